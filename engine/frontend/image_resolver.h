// ImageResolver: the frontend's seam for looking up a base image's metadata while lowering
// (its normalized reference, manifest digest and config: ENV, WORKDIR, USER, ...).
// The image store implements it (engine/image); tests use a fake.
#ifndef KILN_ENGINE_FRONTEND_IMAGE_RESOLVER_H_
#define KILN_ENGINE_FRONTEND_IMAGE_RESOLVER_H_

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "base/digest.h"
#include "engine/oci/image_config.h"

namespace kiln::engine {

struct ResolvedImage {
  std::string ref;               // normalized, e.g. "docker.io/library/busybox:1.35"
  base::Digest manifest_digest;  // of the platform-specific image manifest
  base::Digest config_digest;
  oci::ImageConfig config;
};

class ImageResolver {
 public:
  virtual ~ImageResolver() = default;
  // `ref` as written in the Dockerfile after expansion ("busybox:1.35", "docker.io/x/y@sha256:..").
  // `platform` like "linux/amd64" (empty: the default platform).
  // NotFound with a message naming the ref when the image is not in the store.
  virtual absl::StatusOr<ResolvedImage> Resolve(std::string_view ref, std::string_view platform) = 0;
};

}  // namespace kiln::engine

#endif  // KILN_ENGINE_FRONTEND_IMAGE_RESOLVER_H_
