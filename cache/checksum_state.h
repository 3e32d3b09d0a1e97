// Internal: the persisted state of a ChecksumCache and its atomic on-disk format.
//
// File format: "KILNCSC1", u64 count, then per file: str path, u64 dev, u64 ino, i64 size,
// i64 mtime_ns, i64 ctime_ns, u64 mode, u64 hash_high, u64 hash_low, u64 racy; then a
// 16-byte XXH3-128 (high, low) of everything before it. Plain values; not thread-safe.
#ifndef KILN_CACHE_CHECKSUM_STATE_H_
#define KILN_CACHE_CHECKSUM_STATE_H_

#include <sys/stat.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "base/digest.h"

namespace kiln::cache::internal {

struct CachedFile {
  uint64_t dev = 0;
  uint64_t ino = 0;
  int64_t size = 0;
  int64_t mtime_ns = 0;
  int64_t ctime_ns = 0;
  uint32_t mode = 0;
  base::Xxh128 hash;
  bool racy = false;  // hashed too close to its last change: re-read next time

  // True if `st` describes the same, unchanged file.
  bool Matches(const struct stat& st) const;
  static CachedFile FromStat(const struct stat& st, base::Xxh128 hash, bool racy);
};

using ChecksumState = absl::flat_hash_map<std::string, CachedFile>;

int64_t MtimeNs(const struct stat& st);
int64_t CtimeNs(const struct stat& st);

std::string EncodeChecksumState(const ChecksumState& state);
// DataLoss if truncated, corrupt or of another format.
absl::StatusOr<ChecksumState> DecodeChecksumState(std::string_view bytes);

// Whole-file helpers: nullopt if the file does not exist.
absl::StatusOr<std::optional<std::string>> ReadFileIfExists(const std::string& path);
// temp file in the same directory, fsync, rename over `path`, fsync the directory.
absl::Status WriteFileAtomically(const std::string& path, std::string_view bytes);

}  // namespace kiln::cache::internal

#endif  // KILN_CACHE_CHECKSUM_STATE_H_
