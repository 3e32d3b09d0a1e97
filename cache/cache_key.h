// CacheKey and the cache-key recipe: the ONE place that decides how a step's cache key is made.
//
// A CacheKey is a base::Digest (sha256). CacheKeyBuilder digests an ordered list of typed,
// named, length-prefixed fields, so no two different field lists can produce the same byte
// stream. Recipe, version kCacheKeyVersion (= 2), all integers little-endian:
//
//   "kiln.cachekey\0"  u32 version
//   u32 len(op_type) op_type                        -- e.g. "exec", "file", "source.image"
//   then, per field, in the order the caller adds them:
//     u8 tag  u32 len(name) name  u64 len(value) value
//   tags: 's' string, 'b' raw bytes (canonical op definition), 'i' int64 (8 bytes),
//         'k' input cache key (32 raw bytes; name is the input's index "0", "1", ...),
//         'd' content digest (32 raw bytes), 'x' xxh3-128 (16 bytes: high then low),
//   "\xff" u64 field_count                         -- terminator
//
// Every op's key is made by one of the functions below (nothing else in the engine hashes a
// key). `def` is always the op's canonical definition (graph::SerializeOp), which holds every
// option of the step; the functions add what the definition cannot know:
//   ExecCacheKey         "exec": Bytes("def"), then per bind mount Int("mount", its index in
//                        the op's mounts) + String("mount.content", the content digest of what
//                        it selects), then Input(k) per keyed input (the rootfs and inputs read
//                        by cache mounts; inputs read only by bind mounts are keyed by content).
//   FileCacheKey         "file": Bytes("def"), Input(destination's key), then per copy action
//                        Int("copy", its index in the op's actions) + one
//                        String("copy.content", part) per source it copies (the content digest
//                        of exactly the selected files) -- never the source input's key, so a
//                        stage rebuilt to identical bytes keeps the copy cached (early cutoff).
//   ImageSourceCacheKey  "source.image": Digest("manifest", manifest digest).
//   LocalSourceCacheKey  "source.local": Bytes("def") (copies from it key on what they read).
//   ScratchCacheKey      "source.scratch": no fields.
// Changing anything here changes every key: bump kCacheKeyVersion and update the golden tests
// (tests/cache/cache_key_test.cc, tests/cache/cache_key_golden_test.cc) in the same commit.
// Everything here is a pure function or a value type: thread-compatible. Finish() is called once.
#ifndef KILN_CACHE_CACHE_KEY_H_
#define KILN_CACHE_CACHE_KEY_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/digest.h"

namespace kiln::cache {

using CacheKey = base::Digest;

inline constexpr uint32_t kCacheKeyVersion = 2;

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

// The content a RUN --mount=type=bind adds to the step's key.
struct MountContent {
  int64_t mount = 0;    // index of the mount in the op's mounts
  std::string content;  // content digest of the selected source ("ctx:..." or "snap:...")
};

// The content one COPY/ADD action adds to the step's key.
struct CopyContent {
  int64_t action = 0;              // index of the action in the op's actions
  std::vector<std::string> parts;  // one content digest per source copied, in order
};

CacheKey ExecCacheKey(std::string_view def, const std::vector<MountContent>& mounts,
                      const std::vector<CacheKey>& keyed_inputs);
CacheKey FileCacheKey(std::string_view def, const CacheKey& dest,
                      const std::vector<CopyContent>& copies);
CacheKey ImageSourceCacheKey(const base::Digest& manifest);
CacheKey LocalSourceCacheKey(std::string_view def);
CacheKey ScratchCacheKey();

}  // namespace kiln::cache

#endif  // KILN_CACHE_CACHE_KEY_H_
