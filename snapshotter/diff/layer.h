// Layer: the value types describing an OCI layer blob (compression, media type, digests).
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

// The OCI media type for a layer compressed with `c`.
std::string_view MediaTypeFor(Compression c);

// Inverse of MediaTypeFor; also accepts Docker's
// "application/vnd.docker.image.rootfs.diff.tar.gzip". InvalidArgument otherwise.
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
