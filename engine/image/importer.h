// Importing images from files into a ContentStore: an OCI image layout directory, an
// oci-archive tar, or a docker-archive tar (the `docker save` format: manifest.json, config
// JSON files, layer tars, compressed or not).
//
// Every blob is verified on the way in: OCI blobs against their descriptor digest and size,
// docker-archive configs against their file names when those are digests, and docker-archive
// layers against the config's rootfs.diff_ids (after decompressing, while streaming). A
// mismatch is DataLoss and nothing of that image reaches the store except blobs already
// verified (unreferenced; GC removes them). A multi-platform index resolves to
// `options.platform` (linux/amd64); NotFound lists the platforms present otherwise.
// Docker archives become OCI manifests whose layer media types match the layer bytes
// (tar, tar+gzip or tar+zstd).
//
// Names: options.name if set (then the input must hold exactly one image); otherwise the
// index annotations io.containerd.image.name / org.opencontainers.image.ref.name (a bare tag
// there is not a name), or docker-archive RepoTags. Refs are normalized (Docker's rules).
// An image without any name is InvalidArgument telling the user to pass --name.
// Thread safety: none needed (no shared state); the store is thread-safe.
#ifndef KILN_ENGINE_IMAGE_IMPORTER_H_
#define KILN_ENGINE_IMAGE_IMPORTER_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "cache/content_store.h"
#include "engine/oci/descriptor.h"

namespace kiln::engine::image {

struct ImportOptions {
  std::string name;  // reference to give the image; empty: take names from the input
  oci::Platform platform = oci::Platform::Default();
};

struct ImportedImage {
  std::vector<std::string> refs;  // normalized, e.g. "docker.io/library/busybox:1.35"
  oci::Descriptor manifest;       // the platform manifest, now in the store
};

absl::StatusOr<std::vector<ImportedImage>> ImportImages(cache::ContentStore& store,
                                                        const std::string& path,
                                                        const ImportOptions& options = {});

}  // namespace kiln::engine::image

#endif  // KILN_ENGINE_IMAGE_IMPORTER_H_
