// Internal: computes a layer's diffID (sha256 of the uncompressed tar) while its possibly
// compressed bytes stream past, detecting gzip / zstd / plain from the first bytes.
// Not thread-safe; one per stream.
#ifndef KILN_ENGINE_IMAGE_DIFF_HASHER_H_
#define KILN_ENGINE_IMAGE_DIFF_HASHER_H_

#include <cstddef>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "base/digest.h"
#include "snapshotter/diff/layer.h"

namespace kiln::engine::image::internal {

using snapshotter::Compression;

class DiffHasher {
 public:
  DiffHasher();
  ~DiffHasher();
  DiffHasher(const DiffHasher&) = delete;
  DiffHasher& operator=(const DiffHasher&) = delete;

  // Feeds the next compressed bytes. InvalidArgument on corrupt compressed data.
  absl::Status Update(const char* data, size_t len);
  // The diffID. InvalidArgument on a truncated compressed stream.
  absl::StatusOr<base::Digest> Finish();
  // Known after the first Update with at least 4 bytes (or at Finish); kNone before.
  Compression compression() const { return compression_.value_or(Compression::kNone); }

 private:
  struct Codec;
  absl::Status Start();
  absl::Status Decode(const char* data, size_t len);

  std::optional<Compression> compression_;  // nullopt until sniffed
  std::string head_;  // first bytes, until the compression is known
  base::Sha256 sha_;
  std::unique_ptr<Codec> codec_;
};

}  // namespace kiln::engine::image::internal

#endif  // KILN_ENGINE_IMAGE_DIFF_HASHER_H_
