// StoreImageResolver: the frontend's ImageResolver over the local ImageStore. FROM refs are
// normalized with Docker's rules ("busybox:1.35" -> "docker.io/library/busybox:1.35"); a
// digest ref ("name@sha256:..") resolves when the stored image (or one of its platform
// manifests) has that digest; an index resolves to the requested platform (default
// linux/amd64).
// Errors: NotFound telling the user how to get the image into the store; InvalidArgument
// for a malformed ref or platform; DataLoss/NotFound from the content store for broken images.
// Thread-safe (the ImageStore is); the store must outlive the resolver.
#ifndef KILN_ENGINE_IMAGE_STORE_RESOLVER_H_
#define KILN_ENGINE_IMAGE_STORE_RESOLVER_H_

#include <string_view>

#include "engine/frontend/image_resolver.h"
#include "engine/image/image_store.h"

namespace kiln::engine::image {

class StoreImageResolver : public ImageResolver {
 public:
  explicit StoreImageResolver(ImageStore* store) : store_(store) {}
  absl::StatusOr<ResolvedImage> Resolve(std::string_view ref, std::string_view platform) override;

 private:
  ImageStore* const store_;
};

}  // namespace kiln::engine::image

#endif  // KILN_ENGINE_IMAGE_STORE_RESOLVER_H_
