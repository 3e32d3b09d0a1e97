// LayerEncoder: the single streaming pass from tar bytes to a layer blob.
//
// Every byte written is hashed (diffID), compressed, hashed again (blob digest), counted,
// and pushed to the sink; nothing is buffered beyond a few compression blocks.
//   - none: passthrough; the blob digest is the diffID (one SHA-256 pass).
//   - gzip: independent blocks (default 1 MiB) compressed in parallel by libdeflate (zlib if
//     libdeflate is missing), each a complete gzip member; the concatenation is a standard
//     multi-member gzip stream (RFC 1952 section 2.2) that gzip, Go and libarchive read.
//   - zstd: one zstd frame, always in zstd's multi-threaded mode (at least one worker), so the
//     bytes depend neither on the thread count nor on how the input is cut into Write calls.
// zstd and none: Write only copies into 1 MiB blocks (Lend lets the tar writer fill them in
// place); a feeder thread owned by the encoder hashes them, feeds zstd, hashes its output and
// writes the sink, so the caller's tree walk overlaps the SHA-256 passes.
// Not thread-safe (it owns its worker threads). The sink is called from one thread at a time,
// but for zstd and none that is the encoder's feeder thread, not the caller's. Finish() must
// be called once to flush; a destroyed unfinished encoder discards its output.
#ifndef KILN_SNAPSHOTTER_DIFF_LAYER_ENCODER_H_
#define KILN_SNAPSHOTTER_DIFF_LAYER_ENCODER_H_

#include <cstddef>
#include <memory>

#include "absl/status/statusor.h"
#include "snapshotter/diff/layer.h"
#include "snapshotter/diff/sink.h"

namespace kiln::snapshotter {

struct EncoderOptions {
  Compression compression = Compression::kGzip;
  // gzip: 1..12 (libdeflate) or 1..9 (zlib); zstd: 1..19. 0 = default: zstd 3; gzip 5 with
  // libdeflate (same ratio as zlib's default 6, 3x faster per core), 6 with zlib.
  int level = 0;
  // Compression threads; 0 = number of online CPUs.
  int threads = 0;
  // gzip block size (input bytes per gzip member).
  size_t gzip_block_size = size_t{1} << 20;
};

class LayerEncoder : public ByteSink {
 public:
  // `sink` is borrowed and must outlive the encoder.
  static absl::StatusOr<std::unique_ptr<LayerEncoder>> Create(const EncoderOptions& options,
                                                              ByteSink* sink);
  ~LayerEncoder() override = default;

  // Feeds uncompressed tar bytes. Errors from the compressor (Internal) or the sink.
  absl::Status Write(const void* data, size_t len) override = 0;
  using ByteSink::Write;

  // Flushes everything to the sink and returns the descriptor. Call once.
  virtual absl::StatusOr<LayerDescriptor> Finish() = 0;
};

}  // namespace kiln::snapshotter

#endif  // KILN_SNAPSHOTTER_DIFF_LAYER_ENCODER_H_
