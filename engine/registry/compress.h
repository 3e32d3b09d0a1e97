// Compressed copies of uncompressed layer blobs, made once and kept.
//
// Kiln's image store keeps built layers as uncompressed tars; a registry wants them
// compressed. EnsureCompressed returns the compressed descriptor, compressing the layer only
// the first time: the compressed blob's digest is recorded on the uncompressed blob as the
// label kiln.gc.ref.content.<compression> (which also keeps it alive for GC as long as the
// layer is). Already compressed layers are returned unchanged.
#ifndef KILN_ENGINE_REGISTRY_COMPRESS_H_
#define KILN_ENGINE_REGISTRY_COMPRESS_H_

#include <string_view>

#include "absl/status/statusor.h"
#include "cache/content_store.h"
#include "cache/lease.h"
#include "engine/oci/descriptor.h"

namespace kiln::engine::registry {

inline constexpr std::string_view kLabelCompressedPrefix = "kiln.registry.compressed.";

// `compression`: "gzip" or "zstd". `docker_types`: use Docker schema2 layer media types
// (only gzip exists there; zstd is InvalidArgument for a Docker manifest).
absl::StatusOr<oci::Descriptor> EnsureCompressed(cache::ContentStore& store,
                                                 const oci::Descriptor& layer,
                                                 std::string_view compression, bool docker_types,
                                                 cache::Lease& lease);

}  // namespace kiln::engine::registry

#endif  // KILN_ENGINE_REGISTRY_COMPRESS_H_
