#include "engine/oci/blob_walk.h"

#include <unistd.h>

#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/status.h"
#include "base/unique_fd.h"
#include "engine/oci/media_types.h"
#include "engine/oci/platform_image.h"

namespace kiln::engine::oci::internal {

namespace {

absl::Status Walk(cache::ContentStore& store, const Descriptor& d, std::set<base::Digest>& seen,
                  std::vector<Descriptor>& out, int depth) {
  if (seen.contains(d.digest)) return absl::OkStatus();
  if (depth > 8) {
    return absl::InvalidArgumentError(
        absl::StrCat("walk image ", d.digest.str(), ": indexes nested too deeply"));
  }
  std::string mt = d.media_type;
  if (IsIndexMediaType(mt) || IsManifestMediaType(mt)) {
    KILN_ASSIGN_OR_RETURN(std::string bytes, store.ReadAll(d.digest));
    if (IsIndexMediaType(mt)) {
      KILN_ASSIGN_OR_RETURN(Index index, ParseIndex(bytes, absl::StrCat("index ", d.digest.str())));
      for (const auto& child : index.manifests) {
        KILN_RETURN_IF_ERROR(Walk(store, child, seen, out, depth + 1));
      }
    } else {
      KILN_ASSIGN_OR_RETURN(Manifest m,
                            ParseManifest(bytes, absl::StrCat("manifest ", d.digest.str())));
      if (!seen.contains(m.config.digest)) {
        seen.insert(m.config.digest);
        out.push_back(m.config);
      }
      for (const auto& layer : m.layers) {
        if (seen.insert(layer.digest).second) out.push_back(layer);
      }
    }
  }
  seen.insert(d.digest);
  out.push_back(d);
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::vector<Descriptor>> ReachableBlobs(cache::ContentStore& store,
                                                       const Descriptor& root) {
  std::set<base::Digest> seen;
  std::vector<Descriptor> out;
  KILN_RETURN_IF_ERROR(Walk(store, root, seen, out, 0));
  return out;
}

absl::StatusOr<Manifest> LoadPlatformManifest(cache::ContentStore& store, const Descriptor& d,
                                              Descriptor* chosen) {
  KILN_ASSIGN_OR_RETURN(PlatformImage image, ReadPlatformImage(store, d, Platform::Default()));
  if (chosen != nullptr) *chosen = image.manifest_descriptor;
  return std::move(image.manifest);
}

absl::Status StreamBlob(cache::ContentStore& store, const Descriptor& d, const ChunkSink& sink) {
  auto fd_or = store.OpenRead(d.digest);
  if (!fd_or.ok() && fd_or.status().code() == absl::StatusCode::kUnimplemented) {
    KILN_ASSIGN_OR_RETURN(std::string bytes, store.ReadAll(d.digest));
    if (static_cast<int64_t>(bytes.size()) != d.size) {
      return absl::DataLossError(absl::StrCat("read blob ", d.digest.str(), ": size ", bytes.size(),
                                              ", descriptor says ", d.size));
    }
    return sink(bytes.data(), bytes.size());
  }
  if (!fd_or.ok()) return fd_or.status();
  base::UniqueFd fd(*fd_or);
  std::string buf(1 << 20, '\0');
  int64_t total = 0;
  while (true) {
    ssize_t n = ::read(fd.get(), buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return base::ErrnoError(absl::StrCat("read blob '", d.digest.str(), "'"));
    if (n == 0) break;
    total += n;
    if (total > d.size) break;
    KILN_RETURN_IF_ERROR(sink(buf.data(), static_cast<size_t>(n)));
  }
  if (total != d.size) {
    return absl::DataLossError(absl::StrCat("read blob ", d.digest.str(), ": stored size differs (",
                                            total, " bytes read), descriptor says ", d.size));
  }
  return absl::OkStatus();
}

}  // namespace kiln::engine::oci::internal
