// Layer: the value types describing an OCI layer blob (compression, media type, digests). The
// one set of layer media types (engine/oci/media_types.h names these same constants) and the
// one compression sniffer.
#ifndef KILN_SNAPSHOTTER_DIFF_LAYER_H_
#define KILN_SNAPSHOTTER_DIFF_LAYER_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "base/digest.h"

namespace kiln::snapshotter {

enum class Compression { kNone, kGzip, kZstd };

inline constexpr std::string_view kMediaTypeLayerTar = "application/vnd.oci.image.layer.v1.tar";
inline constexpr std::string_view kMediaTypeLayerGzip =
    "application/vnd.oci.image.layer.v1.tar+gzip";
inline constexpr std::string_view kMediaTypeLayerZstd =
    "application/vnd.oci.image.layer.v1.tar+zstd";
// Docker image manifest v2 schema 2 (no zstd type exists there).
inline constexpr std::string_view kMediaTypeDockerLayerTar =
    "application/vnd.docker.image.rootfs.diff.tar";
inline constexpr std::string_view kMediaTypeDockerLayerGzip =
    "application/vnd.docker.image.rootfs.diff.tar.gzip";

// How many leading bytes SniffCompression looks at.
inline constexpr size_t kSniffBytes = 4;

// The compression of a blob from its first bytes: gzip (1f 8b), zstd (28 b5 2f fd), else
// none. `head` holds the first kSniffBytes bytes, or the whole blob when it is shorter.
Compression SniffCompression(std::string_view head);

// The OCI media type for a layer compressed with `c`.
std::string_view MediaTypeFor(Compression c);

// The Docker schema 2 media type for `c`; InvalidArgument for zstd, which schema 2 cannot carry.
absl::StatusOr<std::string_view> DockerMediaTypeFor(Compression c);

// Inverse of MediaTypeFor and DockerMediaTypeFor. InvalidArgument otherwise.
absl::StatusOr<Compression> CompressionForMediaType(std::string_view media_type);

// What Diff produced. `digest`/`size` describe the blob as written to the sink (compressed);
// `diff_id`/`uncompressed_size` describe the tar inside it.
struct LayerDescriptor {
  base::Digest diff_id;
  base::Digest digest;
  int64_t size = 0;
  int64_t uncompressed_size = 0;
  std::string media_type;
};

}  // namespace kiln::snapshotter

#endif  // KILN_SNAPSHOTTER_DIFF_LAYER_H_
