// LayerDecoder: a ByteSource that turns a layer blob back into its tar stream.
//
// The compression is detected from the first bytes: 1f 8b = gzip (multi-member streams are
// read to the end), 28 b5 2f fd = zstd (any number of frames), anything else = plain tar.
// A corrupt compressed stream gives DataLoss ("corrupt gzip stream ..."), a stream that ends
// inside a gzip member or zstd frame gives DataLoss ("... truncated"). Errors of the inner
// source pass through. Not thread-safe; the inner source is borrowed.
#ifndef KILN_SNAPSHOTTER_DIFF_LAYER_DECODER_H_
#define KILN_SNAPSHOTTER_DIFF_LAYER_DECODER_H_

#include <memory>

#include "absl/status/statusor.h"
#include "snapshotter/diff/layer.h"
#include "snapshotter/diff/sink.h"

namespace kiln::snapshotter {

class LayerDecoder : public ByteSource {
 public:
  // Reads the first bytes of `source` to detect the compression.
  static absl::StatusOr<std::unique_ptr<LayerDecoder>> Open(ByteSource* source);
  ~LayerDecoder() override = default;

  virtual Compression compression() const = 0;
  absl::StatusOr<size_t> Read(void* buf, size_t len) override = 0;
};

}  // namespace kiln::snapshotter

#endif  // KILN_SNAPSHOTTER_DIFF_LAYER_DECODER_H_
