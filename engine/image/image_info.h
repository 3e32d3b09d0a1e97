// Summary of a stored image for listings (`kilnctl image ls`): size and creation time.
#ifndef KILN_ENGINE_IMAGE_IMAGE_INFO_H_
#define KILN_ENGINE_IMAGE_IMAGE_INFO_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "cache/content_store.h"
#include "engine/image/image_store.h"
#include "engine/oci/descriptor.h"

namespace kiln::engine::image {

struct ImageInfo {
  ImageRecord record;
  base::Digest manifest_digest;       // the linux/amd64 manifest when the record is an index
  int64_t size = 0;                   // manifest + config + layer blobs, as stored (compressed)
  std::optional<absl::Time> created;  // the config's "created", if set and valid
  oci::Platform platform;
};

// Reads the record's manifest and config from `content`. NotFound / DataLoss / InvalidArgument
// when a blob is missing or malformed. Thread-safe if the store is.
absl::StatusOr<ImageInfo> DescribeImage(cache::ContentStore& content, const ImageRecord& record);

}  // namespace kiln::engine::image

#endif  // KILN_ENGINE_IMAGE_IMAGE_INFO_H_
