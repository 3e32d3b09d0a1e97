#include "engine/image/image_info.h"

#include "base/status.h"
#include "engine/oci/image.h"
#include "engine/oci/manifest.h"
#include "engine/oci/media_types.h"

namespace kiln::engine::image {

absl::StatusOr<ImageInfo> DescribeImage(cache::ContentStore& content, const ImageRecord& record) {
  ImageInfo info;
  info.record = record;
  oci::Descriptor target = record.target;
  KILN_ASSIGN_OR_RETURN(std::string bytes, content.ReadAll(target.digest));
  if (oci::IsIndexMediaType(target.media_type)) {
    KILN_ASSIGN_OR_RETURN(oci::Index index, oci::ParseIndex(bytes));
    KILN_ASSIGN_OR_RETURN(target, oci::SelectPlatform(index, oci::Platform::Default()));
    KILN_ASSIGN_OR_RETURN(bytes, content.ReadAll(target.digest));
  }
  info.manifest_digest = target.digest;
  KILN_ASSIGN_OR_RETURN(oci::Manifest m, oci::ParseManifest(bytes));
  info.size = static_cast<int64_t>(bytes.size()) + m.config.size;
  for (const auto& l : m.layers) info.size += l.size;
  KILN_ASSIGN_OR_RETURN(std::string config, content.ReadAll(m.config.digest));
  KILN_ASSIGN_OR_RETURN(oci::Image img, oci::ParseImage(config));
  info.platform = img.platform();
  absl::Time t;
  if (!img.created.empty() && absl::ParseTime(absl::RFC3339_full, img.created, &t, nullptr)) {
    info.created = t;
  }
  return info;
}

}  // namespace kiln::engine::image
