// The OCI image config document (application/vnd.oci.image.config.v1+json, also Docker's
// container.image.v1+json): platform, created time, runtime config, rootfs diff_ids, history.
#ifndef KILN_ENGINE_OCI_IMAGE_H_
#define KILN_ENGINE_OCI_IMAGE_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "base/digest.h"
#include "engine/oci/descriptor.h"
#include "engine/oci/image_config.h"

namespace kiln::engine::oci {

struct History {
  std::string created;  // RFC 3339, may be empty
  std::string created_by;
  std::string author;
  std::string comment;
  bool empty_layer = false;
  friend bool operator==(const History&, const History&) = default;
};

struct Image {
  std::string architecture = "amd64";
  std::string os = "linux";
  std::string variant;
  std::string os_version;
  std::string created;  // RFC 3339, may be empty
  std::string author;
  ImageConfig config;
  std::vector<base::Digest> diff_ids;  // rootfs.diff_ids, base layer first
  std::vector<History> history;
  friend bool operator==(const Image&, const Image&) = default;

  Platform platform() const;
};

// Parses an image config. InvalidArgument naming the field on malformed input; a missing
// rootfs or a rootfs.type other than "layers" is an error.
absl::StatusOr<Image> ParseImage(std::string_view json, std::string_view what = "image config");
// Compact JSON with sorted keys: deterministic bytes for the config blob.
std::string SerializeImage(const Image& image);

}  // namespace kiln::engine::oci

#endif  // KILN_ENGINE_OCI_IMAGE_H_
