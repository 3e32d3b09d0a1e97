// CacheKey and the cache-key recipe: the ONE place that decides how a step's cache key is made.
//
// A CacheKey is a base::Digest (sha256). CacheKeyBuilder digests an ordered list of typed,
// named, length-prefixed fields, so no two different field lists can produce the same byte
// stream. Recipe, version kCacheKeyVersion (= 1), all integers little-endian:
//
//   "kiln.cachekey\0"  u32 version
//   u32 len(op_type) op_type                        -- e.g. "exec", "file.copy", "source.image"
//   then, per field, in the order the caller adds them:
//     u8 tag  u32 len(name) name  u64 len(value) value
//   tags: 's' string, 'b' raw bytes (canonical op definition), 'i' int64 (8 bytes),
//         'k' input cache key (32 raw bytes; name is the input's index "0", "1", ...),
//         'd' content digest (32 raw bytes), 'x' xxh3-128 (16 bytes: high then low),
//   "\xff" u64 field_count                         -- terminator
//
// What the engine feeds (documented here so the recipe stays in one file):
//   exec:       Bytes("def", canonical ExecOp), Input(k) per input snapshot in order
//   file.copy:  Bytes("def", canonical FileOp), Xxh("content", ChecksumCache combined digest of
//               exactly the selected files) -- and NOT the source stage's key (early cutoff)
//   source.image: Digest("manifest", manifest digest)
// Changing anything here changes every key: bump kCacheKeyVersion and update the golden tests
// (tests/cache/cache_key_test.cc) in the same commit.
// Not thread-safe (a value type); Finish() may be called once.
#ifndef KILN_CACHE_CACHE_KEY_H_
#define KILN_CACHE_CACHE_KEY_H_

#include <cstdint>
#include <string_view>

#include "base/digest.h"

namespace kiln::cache {

using CacheKey = base::Digest;

inline constexpr uint32_t kCacheKeyVersion = 1;

class CacheKeyBuilder {
 public:
  explicit CacheKeyBuilder(std::string_view op_type);

  CacheKeyBuilder& String(std::string_view name, std::string_view value);
  CacheKeyBuilder& Bytes(std::string_view name, std::string_view value);
  CacheKeyBuilder& Int(std::string_view name, int64_t value);
  // The cache key of the next input, in input order (named by its position).
  CacheKeyBuilder& Input(const CacheKey& key);
  CacheKeyBuilder& Digest(std::string_view name, const base::Digest& digest);
  CacheKeyBuilder& Xxh(std::string_view name, const base::Xxh128& value);

  // The key. The builder is spent afterwards.
  CacheKey Finish();

 private:
  void Field(char tag, std::string_view name, std::string_view value);

  base::Sha256 hash_;
  uint64_t fields_ = 0;
  uint64_t inputs_ = 0;
};

}  // namespace kiln::cache

#endif  // KILN_CACHE_CACHE_KEY_H_
