// Pushing an image from Kiln's image store to a registry.
//
// Order: every blob (layers and config, at most `parallel` at once) is checked with HEAD and
// skipped when present; a blob this store pulled from (or pushed to) another repository of
// the same registry is cross-mounted; the rest are uploaded (one PUT up to `chunk_size`,
// PATCH chunks beyond). The manifest goes last. Uncompressed layers are compressed first
// (compress.h; once per layer and compression). A manifest whose layers needed no
// compression is pushed with its exact stored bytes.
// Thread-safe.
#ifndef KILN_ENGINE_REGISTRY_PUSH_H_
#define KILN_ENGINE_REGISTRY_PUSH_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "cache/lease.h"
#include "engine/image/image_store.h"
#include "engine/oci/reference.h"
#include "engine/registry/client.h"

namespace kiln::engine::registry {

struct PushOptions {
  std::string compression = "gzip";  // for uncompressed layers: gzip or zstd
  int parallel = 4;
  int64_t chunk_size = 16 << 20;
};

struct PushResult {
  base::Digest manifest_digest;
  int64_t bytes_uploaded = 0;  // blob bytes sent
  int blobs_uploaded = 0;
  int blobs_mounted = 0;
  int blobs_present = 0;  // skipped: the registry had them
};

// Pushes the image stored as `local_ref` to `dest` (normalized; a tag, or a digest that must
// equal the pushed manifest's) on `client`'s registry. `lease` holds the blobs being pushed
// (and compressed copies made for it) against a concurrent prune until the caller drops it.
// NotFound if `local_ref` is not stored; Unimplemented for an index (multi-platform push is
// not supported yet).
absl::StatusOr<PushResult> PushImage(RegistryClient& client, image::ImageStore& store,
                                     const std::string& local_ref, const oci::Reference& dest,
                                     cache::Lease& lease, const PushOptions& options = {});

}  // namespace kiln::engine::registry

#endif  // KILN_ENGINE_REGISTRY_PUSH_H_
