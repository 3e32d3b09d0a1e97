#include "engine/oci/platform_image.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "base/status.h"
#include "engine/oci/media_types.h"

namespace kiln::engine::oci {

absl::StatusOr<PlatformImage> ReadPlatformImage(cache::ContentStore& store,
                                                const Descriptor& target, const Platform& platform,
                                                const std::string& what) {
  PlatformImage out;
  out.target = target;
  out.manifest_descriptor = target;
  KILN_ASSIGN_OR_RETURN(std::string bytes, store.ReadAll(target.digest, /*verify=*/true));
  std::string mt = target.media_type.empty() ? SniffMediaType(bytes) : target.media_type;
  std::string where = what.empty() ? absl::StrCat("image ", target.digest.str()) : what;
  if (IsIndexMediaType(mt)) {
    KILN_ASSIGN_OR_RETURN(Index index, ParseIndex(bytes, where));
    absl::StatusOr<Descriptor> chosen = SelectPlatform(index, platform);
    if (!chosen.ok()) return base::Annotate(chosen.status(), where);
    out.manifest_descriptor = *std::move(chosen);
    KILN_ASSIGN_OR_RETURN(bytes, store.ReadAll(out.manifest_descriptor.digest, /*verify=*/true));
  }
  KILN_ASSIGN_OR_RETURN(out.manifest, ParseManifest(bytes, where));
  KILN_ASSIGN_OR_RETURN(std::string config,
                        store.ReadAll(out.manifest.config.digest, /*verify=*/true));
  KILN_ASSIGN_OR_RETURN(out.config, ParseImage(config, where));
  return out;
}

absl::StatusOr<PlatformImage> ReadManifestImage(cache::ContentStore& store,
                                                const base::Digest& manifest,
                                                const std::string& what) {
  Descriptor d;
  d.media_type = std::string(kMediaTypeOciManifest);
  d.digest = manifest;
  return ReadPlatformImage(store, d, Platform::Default(),
                           what.empty() ? absl::StrCat("manifest ", manifest.str()) : what);
}

}  // namespace kiln::engine::oci
