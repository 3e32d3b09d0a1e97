// LocalCacheStore: a cache in an OCI image layout directory.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "base/fs.h"
#include "base/status.h"
#include "base/unique_fd.h"
#include "engine/oci/manifest.h"
#include "engine/oci/media_types.h"
#include "engine/remotecache/cache_store.h"

namespace kiln::engine::remotecache {
namespace {

constexpr std::string_view kRefName = "org.opencontainers.image.ref.name";
constexpr std::string_view kTag = "latest";

std::string BlobPath(const base::Digest& d) { return "blobs/sha256/" + d.hex(); }

// Streams `from` into `to` (both fds) until EOF.
absl::Status Copy(int from, std::string_view what,
                  const std::function<absl::Status(const char*, size_t)>& sink) {
  char buf[1 << 16];
  for (;;) {
    ssize_t n = ::read(from, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return absl::ErrnoToStatus(errno, absl::StrCat("read '", base::AsAbsl(what), "'"));
    if (n == 0) return absl::OkStatus();
    KILN_RETURN_IF_ERROR(sink(buf, static_cast<size_t>(n)));
  }
}

class LocalStore : public CacheStore {
 public:
  explicit LocalStore(std::string dir) : dir_(std::move(dir)) {}

  std::string Name() const override { return "local:" + dir_; }

  absl::StatusOr<std::optional<CacheDescription>> Read() override {
    base::UniqueFd root(::open(dir_.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!root) {
      if (errno == ENOENT) return std::nullopt;
      return absl::ErrnoToStatus(errno, absl::StrCat("open '", dir_, "'"));
    }
    auto index_text = ReadSmall(root.get(), "index.json");
    if (!index_text.ok()) {
      if (absl::IsNotFound(index_text.status())) return std::nullopt;
      return index_text.status();
    }
    KILN_ASSIGN_OR_RETURN(oci::Index index, oci::ParseIndex(*index_text, dir_ + "/index.json"));
    const oci::Descriptor* found = nullptr;
    for (const oci::Descriptor& m : index.manifests) {
      auto it = m.annotations.find(std::string(kRefName));
      if (it != m.annotations.end() && it->second == kTag) found = &m;
    }
    if (found == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(
          "read cache '", dir_, "': index.json has no manifest tagged ", base::AsAbsl(kTag)));
    }
    KILN_ASSIGN_OR_RETURN(std::string manifest_text, ReadBlob(root.get(), found->digest));
    KILN_ASSIGN_OR_RETURN(oci::Manifest manifest,
                          oci::ParseManifest(manifest_text, found->digest.str()));
    if (manifest.config.media_type != kDescriptionMediaType) {
      return absl::InvalidArgumentError(absl::StrCat(
          "read cache '", dir_, "': manifest ", found->digest.str(),
          " is not a Kiln cache (config media type '", manifest.config.media_type, "')"));
    }
    KILN_ASSIGN_OR_RETURN(std::string config, ReadBlob(root.get(), manifest.config.digest));
    KILN_ASSIGN_OR_RETURN(CacheDescription d,
                          DecodeDescription(config, dir_ + "/" + BlobPath(manifest.config.digest)));
    return d;
  }

  absl::Status FetchLayer(const CacheLayer& layer, cache::ContentStore& content) override {
    if (content.Has(layer.digest)) return absl::OkStatus();
    base::UniqueFd root(::open(dir_.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!root) return absl::ErrnoToStatus(errno, absl::StrCat("open '", dir_, "'"));
    absl::StatusOr<base::UniqueFd> fd = base::OpenInRoot(
        root.get(), BlobPath(layer.digest), O_RDONLY | O_NOFOLLOW, base::kResolveBeneathNoSymlinks);
    if (!fd.ok()) {
      if (absl::IsNotFound(fd.status())) {
        return absl::NotFoundError(
            absl::StrCat("fetch cache layer ", layer.digest.str(), " from '", dir_, "': missing"));
      }
      return fd.status();
    }
    KILN_ASSIGN_OR_RETURN(auto writer, content.Writer("remotecache-" + layer.digest.hex()));
    KILN_RETURN_IF_ERROR(Copy(fd->get(), BlobPath(layer.digest),
                              [&](const char* p, size_t n) { return writer->Write(p, n); }));
    absl::StatusOr<cache::BlobInfo> info = writer->Commit(layer.digest);
    if (!info.ok()) {
      return base::Annotate(info.status(), absl::StrCat("fetch cache layer ", layer.digest.str(),
                                                        " from '", dir_, "'"));
    }
    return absl::OkStatus();
  }

  absl::Status Write(const CacheDescription& d, cache::ContentStore& content) override {
    KILN_RETURN_IF_ERROR(base::MkdirAll(dir_ + "/blobs/sha256", 0755));
    base::UniqueFd blobs(
        ::open((dir_ + "/blobs/sha256").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!blobs) return absl::ErrnoToStatus(errno, absl::StrCat("open '", dir_, "/blobs/sha256'"));
    oci::Manifest m;
    m.media_type = std::string(oci::kMediaTypeOciManifest);
    for (const CacheLayer& l : d.layers) {
      KILN_RETURN_IF_ERROR(PutLayer(blobs.get(), l, content));
      oci::Descriptor desc;
      desc.media_type = l.media_type;
      desc.digest = l.digest;
      desc.size = l.size;
      desc.annotations["containerd.io/uncompressed"] = l.diff_id.str();
      m.layers.push_back(std::move(desc));
    }
    std::string config = EncodeDescription(d);
    m.config.media_type = std::string(kDescriptionMediaType);
    m.config.digest = base::Digest::Of(config);
    m.config.size = static_cast<int64_t>(config.size());
    KILN_RETURN_IF_ERROR(PutBytes(blobs.get(), m.config.digest, config));
    std::string manifest = oci::SerializeManifest(m);
    base::Digest manifest_digest = base::Digest::Of(manifest);
    KILN_RETURN_IF_ERROR(PutBytes(blobs.get(), manifest_digest, manifest));
    KILN_RETURN_IF_ERROR(
        base::WriteFileAtomically(dir_ + "/oci-layout", R"({"imageLayoutVersion":"1.0.0"})"));
    oci::Index index;
    index.media_type = std::string(oci::kMediaTypeOciIndex);
    oci::Descriptor md;
    md.media_type = m.media_type;
    md.digest = manifest_digest;
    md.size = static_cast<int64_t>(manifest.size());
    md.annotations[std::string(kRefName)] = std::string(kTag);
    index.manifests.push_back(std::move(md));
    base::WriteFileOptions wo;
    wo.sync_dir = true;
    return base::WriteFileAtomically(dir_ + "/index.json", oci::SerializeIndex(index), wo);
  }

 private:
  absl::StatusOr<std::string> ReadSmall(int root, std::string_view rel) {
    KILN_ASSIGN_OR_RETURN(base::UniqueFd fd, base::OpenInRoot(root, rel, O_RDONLY | O_NOFOLLOW,
                                                              base::kResolveBeneathNoSymlinks));
    return base::ReadAll(fd.get(), absl::StrCat(dir_, "/", base::AsAbsl(rel)));
  }

  // A blob of the layout, checked against its digest.
  absl::StatusOr<std::string> ReadBlob(int root, const base::Digest& d) {
    KILN_ASSIGN_OR_RETURN(std::string bytes, ReadSmall(root, BlobPath(d)));
    if (base::Digest::Of(bytes) != d) {
      return absl::DataLossError(
          absl::StrCat("read '", dir_, "/", BlobPath(d), "': content does not match its digest"));
    }
    return bytes;
  }

  static bool Present(int blobs, const base::Digest& d, int64_t size) {
    struct stat st;
    return ::fstatat(blobs, d.hex().c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 &&
           S_ISREG(st.st_mode) && st.st_size == size;
  }

  absl::Status PutBytes(int blobs, const base::Digest& d, std::string_view bytes) {
    if (Present(blobs, d, static_cast<int64_t>(bytes.size()))) return absl::OkStatus();
    return base::WriteFileAtomicallyAt(blobs, d.hex(), bytes);
  }

  absl::Status PutLayer(int blobs, const CacheLayer& l, cache::ContentStore& content) {
    if (Present(blobs, l.digest, l.size)) return absl::OkStatus();
    KILN_ASSIGN_OR_RETURN(int raw, content.OpenRead(l.digest));
    base::UniqueFd from(raw);
    return base::WriteFileAtomicallyAt(blobs, l.digest.hex(), [&](int fd) {
      return Copy(from.get(), l.digest.str(), [&](const char* p, size_t n) {
        return base::WriteAll(fd, std::string_view(p, n), l.digest.str());
      });
    });
  }

  std::string dir_;
};

}  // namespace

std::unique_ptr<CacheStore> LocalCacheStore(std::string dir) {
  return std::make_unique<LocalStore>(std::move(dir));
}

}  // namespace kiln::engine::remotecache
