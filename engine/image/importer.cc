#include "engine/image/importer.h"

#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/status.h"
#include "engine/image/docker_import.h"
#include "engine/image/import_source.h"
#include "engine/oci/image.h"
#include "engine/oci/manifest.h"
#include "engine/oci/media_types.h"
#include "engine/oci/reference.h"
#include "nlohmann/json.hpp"

namespace kiln::engine::image {

using base::AsAbsl;
using internal::ImportSource;

namespace {

// An image whose small documents are verified and in memory; layers still to stream.
struct PendingImage {
  std::vector<std::string> refs;
  oci::Descriptor manifest_desc;
  std::string manifest_bytes;
  std::string config_bytes;
};

std::string BlobName(const base::Digest& d) { return "blobs/sha256/" + d.hex(); }

absl::Status Mismatch(const ImportSource& src, std::string_view name, std::string_view what) {
  return absl::DataLossError(absl::StrCat("import '", src.path(), "': ", AsAbsl(name), " ",
                                          AsAbsl(what), " (the file is corrupt or was altered)"));
}

absl::StatusOr<std::string> ReadVerified(ImportSource& src, const oci::Descriptor& d) {
  std::string name = BlobName(d.digest);
  KILN_ASSIGN_OR_RETURN(std::string bytes, src.ReadSmall(name));
  if (static_cast<int64_t>(bytes.size()) != d.size) {
    return Mismatch(src, name,
                    absl::StrCat("has ", bytes.size(), " bytes, descriptor says ", d.size));
  }
  if (base::Digest::Of(bytes) != d.digest) return Mismatch(src, name, "does not match its digest");
  return bytes;
}

absl::StatusOr<std::string> Normalized(std::string_view ref) {
  KILN_ASSIGN_OR_RETURN(oci::Reference r, oci::NormalizeReference(ref));
  return r.String();
}

// The image name an index entry carries, or empty. A bare tag in ref.name is not a name.
std::string AnnotatedName(const oci::Descriptor& entry) {
  for (auto key : {oci::kAnnotationContainerdImageName, oci::kAnnotationRefName}) {
    auto it = entry.annotations.find(std::string(key));
    if (it == entry.annotations.end()) continue;
    const std::string& v = it->second;
    if (v.find_first_of("/:@") == std::string::npos) continue;
    if (oci::ParseReference(v).ok()) return v;
  }
  return "";
}

absl::Status ValidateConfig(const ImportSource& src, const oci::Manifest& m,
                            const std::string& config_bytes) {
  if (!oci::IsConfigMediaType(m.config.media_type)) return absl::OkStatus();
  std::string what = absl::StrCat("import '", src.path(), "': config ", m.config.digest.str());
  KILN_ASSIGN_OR_RETURN(oci::Image img, oci::ParseImage(config_bytes, what));
  if (img.diff_ids.size() != m.layers.size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "import '", src.path(), "': config ", m.config.digest.str(), " lists ", img.diff_ids.size(),
        " diff_ids but the manifest has ", m.layers.size(), " layers"));
  }
  return absl::OkStatus();
}

absl::StatusOr<PendingImage> LoadOciEntry(ImportSource& src, const oci::Descriptor& entry,
                                          const ImportOptions& options) {
  PendingImage p;
  p.manifest_desc = entry;
  KILN_ASSIGN_OR_RETURN(std::string bytes, ReadVerified(src, entry));
  std::string mt = entry.media_type.empty() ? oci::SniffMediaType(bytes) : entry.media_type;
  if (oci::IsIndexMediaType(mt)) {
    std::string what = absl::StrCat("import '", src.path(), "': index ", entry.digest.str());
    KILN_ASSIGN_OR_RETURN(oci::Index index, oci::ParseIndex(bytes, what));
    auto chosen = oci::SelectPlatform(index, options.platform);
    if (!chosen.ok())
      return base::Annotate(chosen.status(), absl::StrCat("import '", src.path(), "'"));
    p.manifest_desc = *chosen;
    KILN_ASSIGN_OR_RETURN(bytes, ReadVerified(src, p.manifest_desc));
  } else if (!oci::IsManifestMediaType(mt)) {
    return absl::InvalidArgumentError(absl::StrCat("import '", src.path(), "': entry ",
                                                   entry.digest.str(), " has media type '", mt,
                                                   "', expected an image manifest or index"));
  }
  std::string what =
      absl::StrCat("import '", src.path(), "': manifest ", p.manifest_desc.digest.str());
  KILN_ASSIGN_OR_RETURN(oci::Manifest m, oci::ParseManifest(bytes, what));
  KILN_ASSIGN_OR_RETURN(p.config_bytes, ReadVerified(src, m.config));
  KILN_RETURN_IF_ERROR(ValidateConfig(src, m, p.config_bytes));
  if (p.manifest_desc.media_type.empty()) {
    p.manifest_desc.media_type =
        m.media_type.empty() ? std::string(oci::kMediaTypeOciManifest) : m.media_type;
  }
  p.manifest_desc.annotations.clear();
  if (!p.manifest_desc.platform) {
    auto img = oci::ParseImage(p.config_bytes);
    if (img.ok()) p.manifest_desc.platform = img->platform();
  }
  p.manifest_bytes = std::move(bytes);
  return p;
}

// Streams OCI layer blobs into the store, verifying digest and size.
absl::Status IngestOciLayers(cache::ContentStore& store, ImportSource& src,
                             const std::vector<PendingImage>& pending) {
  std::map<std::string, oci::Descriptor> wanted;
  for (const auto& p : pending) {
    KILN_ASSIGN_OR_RETURN(oci::Manifest m, oci::ParseManifest(p.manifest_bytes));
    for (const auto& l : m.layers) {
      if (!store.Has(l.digest)) wanted[BlobName(l.digest)] = l;
    }
  }
  std::set<std::string> names;
  for (const auto& [n, d] : wanted) names.insert(n);
  return src.Stream(names, [&](const std::string& name, const internal::ChunkReader& read) {
    auto found = wanted.find(name);
    if (found == wanted.end()) {
      return absl::InternalError(absl::StrCat("import '", src.path(), "': unexpected file ", name));
    }
    const oci::Descriptor& d = found->second;
    KILN_ASSIGN_OR_RETURN(auto writer, store.Writer(absl::StrCat("import ", d.digest.str())));
    std::string buf(1 << 20, '\0');
    while (true) {
      KILN_ASSIGN_OR_RETURN(size_t n, read(buf.data(), buf.size()));
      if (n == 0) break;
      KILN_RETURN_IF_ERROR(writer->Write(buf.data(), n));
    }
    if (writer->Offset() != d.size) {
      return Mismatch(src, name,
                      absl::StrCat("has ", writer->Offset(), " bytes, descriptor says ", d.size));
    }
    if (writer->CurrentDigest() != d.digest)
      return Mismatch(src, name, "does not match its digest");
    return writer->Commit(d.digest).status();
  });
}

absl::Status Publish(cache::ContentStore& store, const PendingImage& p) {
  KILN_RETURN_IF_ERROR(store.Put(p.config_bytes).status());
  return store.Put(p.manifest_bytes).status();
}

absl::StatusOr<std::vector<ImportedImage>> ImportOci(cache::ContentStore& store, ImportSource& src,
                                                     const ImportOptions& options) {
  KILN_ASSIGN_OR_RETURN(std::string index_bytes, src.ReadSmall("index.json"));
  std::string what = absl::StrCat("import '", src.path(), "': index.json");
  KILN_ASSIGN_OR_RETURN(oci::Index index, oci::ParseIndex(index_bytes, what));
  if (index.manifests.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("import '", src.path(), "': index.json lists no images"));
  }
  if (!options.name.empty() && index.manifests.size() > 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "import '", src.path(), "': --name needs an input with one image, this one has ",
        index.manifests.size()));
  }
  std::vector<PendingImage> pending;
  for (const auto& entry : index.manifests) {
    std::string name = options.name.empty() ? AnnotatedName(entry) : options.name;
    if (name.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("import '", src.path(), "': image ", entry.digest.str(),
                       " has no name in index.json; give one with --name REF"));
    }
    KILN_ASSIGN_OR_RETURN(PendingImage p, LoadOciEntry(src, entry, options));
    KILN_ASSIGN_OR_RETURN(std::string ref, Normalized(name));
    p.refs.push_back(std::move(ref));
    pending.push_back(std::move(p));
  }
  KILN_RETURN_IF_ERROR(IngestOciLayers(store, src, pending));
  std::vector<ImportedImage> out;
  for (const auto& p : pending) {
    KILN_RETURN_IF_ERROR(Publish(store, p));
    out.push_back({p.refs, p.manifest_desc});
  }
  return out;
}

}  // namespace

absl::StatusOr<std::vector<ImportedImage>> ImportImages(cache::ContentStore& store,
                                                        const std::string& path,
                                                        const ImportOptions& options) {
  if (!options.name.empty()) KILN_RETURN_IF_ERROR(oci::NormalizeReference(options.name).status());
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<ImportSource> src, internal::OpenImportSource(path));
  bool has_index = src->Exists("index.json");
  bool has_docker = src->Exists("manifest.json");
  if (has_index && has_docker && options.name.empty()) {
    // Docker >= 25 writes both; prefer the OCI index when it names its images.
    auto bytes = src->ReadSmall("index.json");
    auto index = bytes.ok() ? oci::ParseIndex(*bytes) : absl::StatusOr<oci::Index>(bytes.status());
    bool named = index.ok() && !index->manifests.empty();
    if (index.ok()) {
      for (const auto& e : index->manifests) named = named && !AnnotatedName(e).empty();
    }
    if (!named) return internal::ImportDockerArchive(store, *src, options);
  }
  if (has_index) return ImportOci(store, *src, options);
  if (has_docker) return internal::ImportDockerArchive(store, *src, options);
  return absl::InvalidArgumentError(
      absl::StrCat("import '", path,
                   "': not an OCI layout, oci-archive or docker-archive "
                   "(found neither index.json nor manifest.json)"));
}

}  // namespace kiln::engine::image
