// The OCI Distribution operations Kiln uses, over a RegistryClient: manifest GET/HEAD/PUT and
// blob HEAD/GET/upload/mount. Every manifest and blob is verified on the exact bytes received
// (digest and size); nothing is ever re-serialized before hashing.
//
// Errors: the registry's response verbatim (errors.h); DataLoss for a digest or size
// mismatch; FailedPrecondition for a schema1 manifest or a manifest over 4 MiB.
// Thread-safe (the client is).
#ifndef KILN_ENGINE_REGISTRY_DISTRIBUTION_H_
#define KILN_ENGINE_REGISTRY_DISTRIBUTION_H_

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "base/digest.h"
#include "cache/content_store.h"
#include "engine/oci/descriptor.h"
#include "engine/registry/client.h"

namespace kiln::engine::registry {

inline constexpr size_t kMaxManifestBytes = 4 << 20;

// The Accept header of every manifest request: OCI index and manifest, Docker schema2 list
// and manifest.
std::string ManifestAccept();

struct FetchedManifest {
  oci::Descriptor descriptor;  // media type from Content-Type, digest and size of `bytes`
  std::string bytes;
};

// GET /v2/<repo>/manifests/<reference> (a tag or a digest).
absl::StatusOr<FetchedManifest> GetManifest(RegistryClient& client, const std::string& repo,
                                            const std::string& reference);
// HEAD of the same: the descriptor the registry reports (Docker-Content-Digest, size, type),
// with a GET fallback for registries that refuse HEAD (405) or send no digest.
absl::StatusOr<oci::Descriptor> HeadManifest(RegistryClient& client, const std::string& repo,
                                             const std::string& reference);

// Downloads blob `desc` into `store`, verifying size and digest; resumes an interrupted
// transfer with Range (only a 206 with the matching Content-Range is accepted; a 200
// restarts). On any failure nothing is left in the store.
absl::Status FetchBlob(RegistryClient& client, const std::string& repo, const oci::Descriptor& desc,
                       cache::ContentStore& store, std::map<std::string, std::string> labels = {});

// HEAD /v2/<repo>/blobs/<digest>: true if present.
absl::StatusOr<bool> BlobExists(RegistryClient& client, const std::string& repo,
                                const base::Digest& digest);

struct UploadStats {
  int64_t bytes_sent = 0;
  bool mounted = false;
};

// Uploads blob `desc` from `store` to `repo`: a cross-repository mount from `mount_from` (a
// repository of the same registry) when given; otherwise one PUT for blobs up to
// `chunk_size`, PATCH chunks then PUT for bigger ones.
absl::StatusOr<UploadStats> UploadBlob(RegistryClient& client, const std::string& repo,
                                       const oci::Descriptor& desc, cache::ContentStore& store,
                                       const std::string& mount_from,
                                       int64_t chunk_size = 16 << 20);

// PUT /v2/<repo>/manifests/<reference> with Content-Type = media type; checks the
// Docker-Content-Digest the registry answers.
absl::Status PutManifest(RegistryClient& client, const std::string& repo,
                         const std::string& reference, std::string_view media_type,
                         std::string_view bytes);

}  // namespace kiln::engine::registry

#endif  // KILN_ENGINE_REGISTRY_DISTRIBUTION_H_
