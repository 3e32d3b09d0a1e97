// The one reader of "index -> platform -> manifest -> config" over a content store. Every
// place that needs a stored image's manifest or config goes through ReadPlatformImage (or
// image::ImageStore::Resolve, which finds the record first); the registry client selects from
// a fetched index with the same SelectPlatform.
#ifndef KILN_ENGINE_OCI_PLATFORM_IMAGE_H_
#define KILN_ENGINE_OCI_PLATFORM_IMAGE_H_

#include <string>

#include "absl/status/statusor.h"
#include "cache/content_store.h"
#include "engine/oci/descriptor.h"
#include "engine/oci/image.h"
#include "engine/oci/manifest.h"

namespace kiln::engine::oci {

// One platform's image as stored.
struct PlatformImage {
  Descriptor target;               // what was read from: an index or a manifest
  Descriptor manifest_descriptor;  // the platform manifest (== target for a manifest)
  Manifest manifest;
  Image config;
};

// Reads `target` (an index, or a manifest; an empty media type is sniffed from the JSON); for
// an index picks the manifest for `platform` (SelectPlatform: attestations skipped, NotFound
// listing the platforms present). Manifest and config bytes are verified against their
// digests. `what` prefixes parse errors ("resolve image 'x'"). Errors: NotFound for a missing
// blob or platform, DataLoss for a digest mismatch, InvalidArgument for unparsable JSON.
absl::StatusOr<PlatformImage> ReadPlatformImage(cache::ContentStore& store,
                                                const Descriptor& target, const Platform& platform,
                                                const std::string& what = "");

// The same for a platform manifest known by digest only (a build graph's image source).
absl::StatusOr<PlatformImage> ReadManifestImage(cache::ContentStore& store,
                                                const base::Digest& manifest,
                                                const std::string& what = "");

}  // namespace kiln::engine::oci

#endif  // KILN_ENGINE_OCI_PLATFORM_IMAGE_H_
