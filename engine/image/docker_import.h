// Internal: import of a docker-archive (`docker save` format) into a ContentStore, converting
// each image to an OCI manifest. See importer.h for the contract.
#ifndef KILN_ENGINE_IMAGE_DOCKER_IMPORT_H_
#define KILN_ENGINE_IMAGE_DOCKER_IMPORT_H_

#include <vector>

#include "absl/status/statusor.h"
#include "cache/content_store.h"
#include "engine/image/import_source.h"
#include "engine/image/importer.h"

namespace kiln::engine::image::internal {

absl::StatusOr<std::vector<ImportedImage>> ImportDockerArchive(cache::ContentStore& store,
                                                               ImportSource& src,
                                                               const ImportOptions& options);

}  // namespace kiln::engine::image::internal

#endif  // KILN_ENGINE_IMAGE_DOCKER_IMPORT_H_
