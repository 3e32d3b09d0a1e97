// Exporter: turns a build's final snapshot and image config into an OCI image in the content
// store (layers made lazily by LayerStore, config with history and diff_ids, manifest), and
// writes it where --output says: the local image store, an OCI layout or archive, a docker
// archive, or a plain directory.
#ifndef KILN_ENGINE_EXPORTERS_EXPORTER_H_
#define KILN_ENGINE_EXPORTERS_EXPORTER_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "cache/lease.h"
#include "engine/exporters/output.h"
#include "engine/image/image_store.h"
#include "engine/oci/descriptor.h"
#include "engine/oci/image.h"
#include "engine/ops/layers.h"
#include "engine/ops/worker.h"

namespace kiln::engine {

struct ImageSpec {
  std::string top_snapshot;            // "" = empty filesystem
  std::optional<oci::Image> base;      // the target stage's base image, if it is an image
  oci::ImageConfig config;             // final runtime config
  std::optional<std::string> author;   // MAINTAINER; nullopt keeps the base image's author
  // History of the steps after the base; entries with empty_layer=false pair with layers.
  std::vector<oci::History> history;
  // nullopt: any layer already made for a snapshot is reused whatever its compression, and a
  // new one is an uncompressed tar (Kiln's own image store: no CPU spent compressing layers
  // that never leave the machine; an oci/docker export asks for gzip or zstd explicitly).
  std::optional<snapshotter::Compression> compression = snapshotter::Compression::kGzip;
  std::optional<int64_t> source_date_epoch;
  // Without source_date_epoch: the image's date, when the top snapshot was imported from a
  // remote cache (the exporting machine's date); nullopt = the top snapshot's creation.
  std::optional<int64_t> created;
};

struct BuiltImage {
  oci::Descriptor manifest;
  base::Digest config_digest;
  int64_t size_bytes = 0;  // manifest + config + layers
  std::vector<base::Digest> blobs;  // every blob of the image: layers, config, manifest
};

// Makes (or reuses) the layers and writes config and manifest blobs. With a `lease`, every
// blob of the image is held in it before it is trusted (a blob GC removed meanwhile is made
// again), so GC cannot take them until the lease is released -- after the image is stored.
absl::StatusOr<BuiltImage> AssembleImage(const Worker& worker, LayerStore& layers,
                                         const ImageSpec& spec, cache::Lease* lease = nullptr);

// Writes one --output.
absl::Status ExportImage(const Worker& worker, image::ImageStore& store, const BuiltImage& image,
                         const std::string& top_snapshot, const Output& out);

// Copies a snapshot's whole tree into `dest` (type=local).
absl::Status ExportLocal(const Worker& worker, const std::string& snapshot, const std::string& dest);

}  // namespace kiln::engine

#endif  // KILN_ENGINE_EXPORTERS_EXPORTER_H_
