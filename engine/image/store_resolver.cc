#include "engine/image/store_resolver.h"

#include "absl/strings/str_cat.h"
#include "base/status.h"
#include "engine/oci/image.h"
#include "engine/oci/manifest.h"
#include "engine/oci/media_types.h"
#include "engine/oci/reference.h"

namespace kiln::engine::image {

using base::AsAbsl;

namespace {

absl::Status NotInStore(std::string_view written, const oci::Reference& ref) {
  return absl::NotFoundError(absl::StrCat(
      "resolve image '", AsAbsl(written), "': ", ref.String(),
      " is not in the local image store; pull it with `kilnctl image pull ", ref.Familiar(),
      "` (or build with --pull=missing), or import it with `kilnctl image import PATH --name ",
      ref.Familiar(),
      "` (an OCI layout, oci-archive or docker-archive); tools/images/build.sh makes layouts "
      "of the standard busybox:1.35 and golang:1.19 bases"));
}

// Finds the record for `ref`: by name (and tag), or by digest among all records.
absl::StatusOr<ImageRecord> FindRecord(ImageStore& store, std::string_view written,
                                       const oci::Reference& ref) {
  if (ref.digest.empty()) {
    auto r = store.Get(ref.String());
    if (absl::IsNotFound(r.status())) return NotInStore(written, ref);
    return r;
  }
  KILN_ASSIGN_OR_RETURN(std::vector<ImageRecord> all, store.List());
  for (auto& r : all) {
    if (r.target.digest.str() == ref.digest) return std::move(r);
  }
  // A digest naming one platform manifest of a stored index.
  for (auto& r : all) {
    if (!oci::IsIndexMediaType(r.target.media_type)) continue;
    auto bytes = store.content().ReadAll(r.target.digest);
    if (!bytes.ok()) continue;
    auto index = oci::ParseIndex(*bytes);
    if (!index.ok()) continue;
    for (const auto& m : index->manifests) {
      if (m.digest.str() == ref.digest) return ImageRecord{r.ref, m, r.created};
    }
  }
  return NotInStore(written, ref);
}

}  // namespace

absl::StatusOr<oci::PlatformImage> ImageStore::Resolve(std::string_view ref,
                                                       const oci::Platform& platform) {
  KILN_ASSIGN_OR_RETURN(oci::Reference parsed, oci::NormalizeReference(ref));
  KILN_ASSIGN_OR_RETURN(ImageRecord record, FindRecord(*this, ref, parsed));
  return oci::ReadPlatformImage(*content_, record.target, platform,
                                absl::StrCat("resolve image '", parsed.String(), "'"));
}

absl::StatusOr<oci::PlatformImage> ImageStore::Resolve(const ImageRecord& record,
                                                       const oci::Platform& platform) {
  return oci::ReadPlatformImage(*content_, record.target, platform,
                                absl::StrCat("resolve image '", record.ref, "'"));
}

absl::StatusOr<ResolvedImage> StoreImageResolver::Resolve(std::string_view ref,
                                                          std::string_view platform) {
  KILN_ASSIGN_OR_RETURN(oci::Reference parsed, oci::NormalizeReference(ref));
  oci::Platform want = oci::Platform::Default();
  if (!platform.empty()) {
    KILN_ASSIGN_OR_RETURN(want, oci::Platform::Parse(platform));
  }
  KILN_ASSIGN_OR_RETURN(oci::PlatformImage image, store_->Resolve(ref, want));
  if (!image.config.platform().Matches(want)) {
    return absl::NotFoundError(absl::StrCat("resolve image '", parsed.String(),
                                            "': the image is for ", image.config.platform().str(),
                                            ", not ", want.str()));
  }
  ResolvedImage out;
  out.ref = parsed.String();
  out.manifest_digest = image.manifest_descriptor.digest;
  out.config_digest = image.manifest.config.digest;
  out.config = std::move(image.config.config);
  return out;
}

}  // namespace kiln::engine::image
