// RegistryCacheStore: a cache as an OCI image manifest in a registry repository, under a tag.
#include "absl/strings/str_cat.h"
#include "base/status.h"
#include "engine/oci/manifest.h"
#include "engine/oci/media_types.h"
#include "engine/oci/reference.h"
#include "engine/registry/distribution.h"
#include "engine/remotecache/cache_store.h"

namespace kiln::engine::remotecache {
namespace {

class RegistryStore : public CacheStore {
 public:
  RegistryStore(std::string ref, RegistryClientFactory clients)
      : ref_(std::move(ref)), clients_(std::move(clients)) {}

  std::string Name() const override { return "registry:" + ref_; }

  absl::StatusOr<std::optional<CacheDescription>> Read() override {
    KILN_RETURN_IF_ERROR(Connect());
    absl::StatusOr<registry::FetchedManifest> got =
        registry::GetManifest(*client_, parsed_.path, Tag());
    if (absl::IsNotFound(got.status())) return std::nullopt;
    if (!got.ok()) return got.status();
    if (got->descriptor.media_type != oci::kMediaTypeOciManifest) {
      return NotCache(absl::StrCat("a manifest of type '", got->descriptor.media_type, "'"));
    }
    KILN_ASSIGN_OR_RETURN(oci::Manifest m, oci::ParseManifest(got->bytes, ref_));
    if (m.config.media_type != kDescriptionMediaType) {
      return NotCache(absl::StrCat("an image whose config is '", m.config.media_type, "'"));
    }
    KILN_RETURN_IF_ERROR(registry::FetchBlob(*client_, parsed_.path, m.config, *content_for_read_));
    KILN_ASSIGN_OR_RETURN(std::string config, content_for_read_->ReadAll(m.config.digest, true));
    KILN_ASSIGN_OR_RETURN(
        CacheDescription d,
        DecodeDescription(config, absl::StrCat(ref_, "@", m.config.digest.str())));
    return d;
  }

  absl::Status FetchLayer(const CacheLayer& layer, cache::ContentStore& content) override {
    if (content.Has(layer.digest)) return absl::OkStatus();
    KILN_RETURN_IF_ERROR(Connect());
    return registry::FetchBlob(*client_, parsed_.path, Descriptor(layer), content);
  }

  absl::Status Write(const CacheDescription& d, cache::ContentStore& content) override {
    KILN_RETURN_IF_ERROR(Connect());
    oci::Manifest m;
    m.media_type = std::string(oci::kMediaTypeOciManifest);
    for (const CacheLayer& l : d.layers) {
      oci::Descriptor desc = Descriptor(l);
      KILN_RETURN_IF_ERROR(Upload(desc, content));
      desc.annotations["containerd.io/uncompressed"] = l.diff_id.str();
      m.layers.push_back(std::move(desc));
    }
    std::string config = EncodeDescription(d);
    KILN_ASSIGN_OR_RETURN(cache::BlobInfo info, content.Put(config));
    m.config.media_type = std::string(kDescriptionMediaType);
    m.config.digest = info.digest;
    m.config.size = info.size;
    KILN_RETURN_IF_ERROR(Upload(m.config, content));
    // The manifest goes last: a reader never sees it before its blobs.
    return registry::PutManifest(*client_, parsed_.path, Tag(), oci::kMediaTypeOciManifest,
                                 oci::SerializeManifest(m));
  }

  // Read needs somewhere to put the description blob; the seam gives it the worker's store.
  void set_content(cache::ContentStore* content) { content_for_read_ = content; }

 private:
  static oci::Descriptor Descriptor(const CacheLayer& l) {
    oci::Descriptor desc;
    desc.media_type = l.media_type;
    desc.digest = l.digest;
    desc.size = l.size;
    return desc;
  }

  std::string Tag() const { return parsed_.tag.empty() ? "latest" : parsed_.tag; }

  absl::Status NotCache(std::string_view what) const {
    return absl::InvalidArgumentError(
        absl::StrCat("read cache '", ref_, "': ", base::AsAbsl(what), ", not a Kiln cache"));
  }

  absl::Status Connect() {
    if (client_ != nullptr) return absl::OkStatus();
    KILN_ASSIGN_OR_RETURN(parsed_, oci::NormalizeReference(ref_));
    if (!parsed_.digest.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("cache ref '", ref_, "': expected REG/REPO:TAG, not a digest"));
    }
    client_ = clients_(parsed_.domain);
    if (client_ == nullptr) {
      return absl::FailedPreconditionError(
          absl::StrCat("cache ref '", ref_, "': no registry client"));
    }
    return absl::OkStatus();
  }

  // HEAD first: a blob the registry has is never sent again.
  absl::Status Upload(const oci::Descriptor& desc, cache::ContentStore& content) {
    KILN_ASSIGN_OR_RETURN(bool present, registry::BlobExists(*client_, parsed_.path, desc.digest));
    if (present) return absl::OkStatus();
    return registry::UploadBlob(*client_, parsed_.path, desc, content, "").status();
  }

  std::string ref_;
  RegistryClientFactory clients_;
  oci::Reference parsed_;
  std::unique_ptr<registry::RegistryClient> client_;
  cache::ContentStore* content_for_read_ = nullptr;
};

}  // namespace

std::unique_ptr<CacheStore> RegistryCacheStore(std::string ref, RegistryClientFactory clients,
                                               cache::ContentStore* scratch) {
  auto s = std::make_unique<RegistryStore>(std::move(ref), std::move(clients));
  s->set_content(scratch);
  return s;
}

}  // namespace kiln::engine::remotecache
