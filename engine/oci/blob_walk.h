// Internal: walking an image's blobs in a ContentStore and streaming them out.
#ifndef KILN_ENGINE_OCI_BLOB_WALK_H_
#define KILN_ENGINE_OCI_BLOB_WALK_H_

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "cache/content_store.h"
#include "engine/oci/descriptor.h"
#include "engine/oci/manifest.h"

namespace kiln::engine::oci::internal {

// Every blob reachable from `root` (an index or a manifest), each once, children before the
// documents that name them, `root` last. NotFound when a document blob is missing.
absl::StatusOr<std::vector<Descriptor>> ReachableBlobs(cache::ContentStore& store,
                                                       const Descriptor& root);

// Loads and parses the manifest `d`; when `d` is an index, picks linux/amd64 first.
// Returns the manifest's descriptor through `chosen` (may be null).
absl::StatusOr<Manifest> LoadPlatformManifest(cache::ContentStore& store, const Descriptor& d,
                                              Descriptor* chosen);

using ChunkSink = std::function<absl::Status(const char* data, size_t len)>;

// Streams blob `d` into `sink` in chunks of at most 1 MiB. DataLoss if the stored size
// differs from d.size.
absl::Status StreamBlob(cache::ContentStore& store, const Descriptor& d, const ChunkSink& sink);

}  // namespace kiln::engine::oci::internal

#endif  // KILN_ENGINE_OCI_BLOB_WALK_H_
