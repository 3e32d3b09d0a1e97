// LayerEncoder: the single streaming pass from tar bytes to a layer blob.
//
// Every byte written is hashed (diffID), compressed, hashed again (blob digest), counted,
// and pushed to the sink; nothing is buffered beyond a few compression blocks.
//   - none: passthrough; the blob digest is the diffID (one SHA-256 pass).
//   - gzip: independent blocks (default 1 MiB) compressed in parallel by libdeflate (zlib if
//     libdeflate is missing), each a complete gzip member; the concatenation is a standard
//     multi-member gzip stream (RFC 1952 section 2.2) that gzip, Go and libarchive read.
//   - zstd: independent zstd frames of 8 MiB of tar each, compressed in parallel and written
//     in order (zstd_frame_encoder.h); the concatenation is one standard zstd stream. The
//     bytes depend neither on the thread count nor on how the input is cut into Write calls.
// Write only copies into the encoder's blocks (Lend lets the tar writer fill them in place).
// zstd: the caller hashes the tar (diffID) as it arrives, workers compress full frames, and
// the caller compresses one itself whenever three wait, hashes the frames in order (blob
// digest) and writes the sink. none: a feeder thread owned by the encoder hashes the blocks
// and writes the sink, so the caller's tree walk overlaps the SHA-256 pass.
// Not thread-safe (it owns its worker threads). The sink is called from one thread at a time:
// the caller's for zstd and gzip, the encoder's feeder thread for none. Finish() must be
// called once to flush; a destroyed unfinished encoder discards its output.
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
  // Compression threads; 0 = number of online CPUs. zstd: threads working, the caller's
  // included (threads - 1 workers, at least one).
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
