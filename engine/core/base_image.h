// The image a build's final stage starts FROM.
#ifndef KILN_ENGINE_CORE_BASE_IMAGE_H_
#define KILN_ENGINE_CORE_BASE_IMAGE_H_

#include <optional>

#include "absl/status/statusor.h"
#include "cache/content_store.h"
#include "engine/frontend/lower.h"
#include "engine/oci/image.h"

namespace kiln::engine {

// The config of the image the final stage of `lowered` is built FROM (read with
// oci::ReadManifestImage); nullopt for FROM scratch or a stage that starts from no image.
absl::StatusOr<std::optional<oci::Image>> BaseImageOf(cache::ContentStore& content,
                                                      const LoweredBuild& lowered);

}  // namespace kiln::engine

#endif  // KILN_ENGINE_CORE_BASE_IMAGE_H_
