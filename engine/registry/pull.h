// Pulling an image from a registry into Kiln's image store.
//
// The manifest is fetched with content negotiation; an index resolves to `platform`
// (attestation entries skipped; NotFound listing the available platforms when none matches).
// The config and layers go into the content store verified (layers in parallel, at most
// `parallel` at once); then the ref is stored through ImageStore::Put exactly like an imported
// image (so GC marks it the same way): a tag ref points at the platform manifest, a digest ref
// at what the digest names (an index stays an index, the resolver picks the platform). The
// index of a tag is kept in the content store as well, so that a later revalidation that finds
// the same index (or a new one listing the same platform manifest) needs no further request: a
// manifest already in the content store is read from there, never fetched again.
// Every fetched blob is labeled kiln.registry.source.<domain> = <repository>, which lets a
// later push to the same registry mount it instead of uploading it.
// Thread-safe.
#ifndef KILN_ENGINE_REGISTRY_PULL_H_
#define KILN_ENGINE_REGISTRY_PULL_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "engine/image/image_store.h"
#include "engine/oci/descriptor.h"
#include "engine/oci/reference.h"
#include "engine/registry/client.h"

namespace kiln::engine::registry {

inline constexpr std::string_view kLabelSourcePrefix = "kiln.registry.source.";

struct PullOptions {
  oci::Platform platform = oci::Platform::Default();
  int parallel = 4;
  // The repository on `client`'s registry; empty: ref.path. A mirror may add a prefix
  // ("proxy/library/busybox") while the image is still stored under `ref`.
  std::string repository;
  // What the tag resolved to on the registry (a HEAD made just before, by ResolveRemote); when
  // the content store holds that digest, the tag's manifest is not fetched again.
  std::optional<oci::Descriptor> resolved;
};

struct PullResult {
  std::string ref;               // normalized, as stored
  oci::Descriptor target;        // what the ref points at in the store
  base::Digest manifest_digest;  // the platform manifest
  int blobs_fetched = 0;         // blobs that were not in the content store yet
  int manifests_fetched = 0;     // manifests GOT from the registry (not in the store)
};

// `ref` must be normalized (a tag or a digest).
absl::StatusOr<PullResult> PullImage(RegistryClient& client, const oci::Reference& ref,
                                     image::ImageStore& store, const PullOptions& options = {});

// The manifest descriptor a ref resolves to on the registry (HEAD, no body for a tag), for
// revalidating a local tag.
absl::StatusOr<oci::Descriptor> ResolveRemote(RegistryClient& client, const oci::Reference& ref,
                                              const std::string& repository = "");

}  // namespace kiln::engine::registry

#endif  // KILN_ENGINE_REGISTRY_PULL_H_
