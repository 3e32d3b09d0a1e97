// Internal: the zstd layer encoder, independent zstd frames compressed in parallel.
//
// The tar stream is cut at fixed offsets into frames of kZstdFrameSize bytes (the last one
// shorter); each frame is compressed on its own (ZSTD_compress2 at the given level, content
// size recorded, no checksum) and the frames are written in order. Concatenated frames are
// one standard zstd stream (RFC 8878 section 3: a decoder reads frames one after another);
// `zstd -d`, libarchive, containerd and Go's decoders all read it. The bytes depend only on
// the input and the level, never on the thread count or on how the input is cut into Write
// calls, so the layer digest is the same on every machine.
//
// Threads. The caller fills the frames (Lend lets the tar writer read file data straight into
// them, 256 KiB at a time), hashes the tar bytes as they arrive (diffID, while they are still
// in the cache), and hands full frames to `threads - 1` workers (at least one). Whenever three
// frames wait for a worker, the caller compresses the oldest itself rather than queue a
// fourth; it also hashes the compressed frames in order (blob digest) and writes them to the
// sink. So `threads` threads do all the work with none idle behind a queue: on 2 CPUs, 2 busy
// threads, where zstd's own multi-threaded mode ran 2 workers beside a feeder and the walk
// (and copied every input byte once more into its job buffers, and re-read an overlap window
// per job).
//
// Memory: up to threads + 3 frames in flight plus the one being filled, each kZstdFrameSize
// of input plus its compressed output (ZSTD_compressBound, touched only as far as written;
// ~12 MiB resident per frame at a ratio of 3), plus one zstd context per thread.
// Not thread-safe (it owns its workers); the sink is called on the caller's thread only.
#ifndef KILN_SNAPSHOTTER_DIFF_ZSTD_FRAME_ENCODER_H_
#define KILN_SNAPSHOTTER_DIFF_ZSTD_FRAME_ENCODER_H_

#include <cstddef>
#include <memory>

#include "absl/status/statusor.h"
#include "snapshotter/diff/layer_encoder.h"
#include "snapshotter/diff/sink.h"

namespace kiln::snapshotter::internal {

// Input bytes per zstd frame: zstd's own job size at level 3 (4x its 2 MiB window), so the
// ratio is close to that of its multi-threaded mode (+0.15-0.3 % bytes on the bench tree).
inline constexpr size_t kZstdFrameSize = size_t{8} << 20;

// `sink` is borrowed and must outlive the encoder. `level` 1..19 (InvalidArgument otherwise),
// `threads` >= 1 (threads working, the caller included; at least one worker is started).
// ResourceExhausted if zstd cannot allocate a context.
absl::StatusOr<std::unique_ptr<LayerEncoder>> NewZstdFrameEncoder(ByteSink* sink, int level,
                                                                  int threads);

}  // namespace kiln::snapshotter::internal

#endif  // KILN_SNAPSHOTTER_DIFF_ZSTD_FRAME_ENCODER_H_
