#include "engine/image/image_info.h"

#include "base/status.h"
#include "engine/oci/image.h"
#include "engine/oci/manifest.h"
#include "engine/oci/media_types.h"
#include "engine/oci/platform_image.h"

namespace kiln::engine::image {

absl::StatusOr<ImageInfo> DescribeImage(cache::ContentStore& content, const ImageRecord& record) {
  ImageInfo info;
  info.record = record;
  KILN_ASSIGN_OR_RETURN(oci::PlatformImage image,
                        oci::ReadPlatformImage(content, record.target, oci::Platform::Default()));
  info.manifest_digest = image.manifest_descriptor.digest;
  KILN_ASSIGN_OR_RETURN(cache::BlobInfo manifest_blob,
                        content.Info(image.manifest_descriptor.digest));
  info.size = manifest_blob.size + image.manifest.config.size;
  for (const auto& l : image.manifest.layers) info.size += l.size;
  const oci::Image& img = image.config;
  info.platform = img.platform();
  absl::Time t;
  if (!img.created.empty() && absl::ParseTime(absl::RFC3339_full, img.created, &t, nullptr)) {
    info.created = t;
  }
  return info;
}

}  // namespace kiln::engine::image
