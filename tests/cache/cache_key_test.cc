// Golden tests for the cache-key recipe (cache/cache_key.h). A failure here means the recipe
// changed: every existing cache entry is invalidated. If that is intended, bump
// kCacheKeyVersion and record the new digests in the same commit. The recorded digests were
// cross-checked with an independent Python implementation of the recipe in cache_key.h.
#include "cache/cache_key.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

namespace kiln::cache {
namespace {

CacheKey ExecKey() {
  CacheKey base_image = CacheKeyBuilder("source.image")
                            .Digest("manifest", base::Digest::Of("manifest bytes"))
                            .Finish();
  return CacheKeyBuilder("exec")
      .Bytes("def", "{\"args\":[\"/bin/sh\",\"-c\",\"make\"],\"env\":[\"A=1\"]}")
      .Input(base_image)
      .Finish();
}

TEST(CacheKeyGoldenTest, VersionIsOne) { EXPECT_EQ(kCacheKeyVersion, 1u); }

TEST(CacheKeyGoldenTest, EmptyOp) {
  EXPECT_EQ(CacheKeyBuilder("").Finish().hex(),
            "cda400cde75f1b95aa475b1790f204416895764826f576dcd1ac29f2c61f7ca0");
}

TEST(CacheKeyGoldenTest, ImageSource) {
  EXPECT_EQ(CacheKeyBuilder("source.image")
                .Digest("manifest", base::Digest::Of("manifest bytes"))
                .Finish()
                .hex(),
            "e9814af8e0a1f1a104e6c55b5a54646b12966eb3b2c0264b2fcaa9f46887191c");
}

TEST(CacheKeyGoldenTest, ExecWithInput) {
  EXPECT_EQ(ExecKey().hex(), "df2f02fad6d06b02bdae56e815094319c93499b4b4f4c2c49c636a13222b7c32");
}

TEST(CacheKeyGoldenTest, CopyWithContentChecksumAndEveryFieldType) {
  CacheKey key = CacheKeyBuilder("file.copy")
                     .Bytes("def", "src=app/ dest=/app chown=1000:1000")
                     .String("platform", "linux/amd64")
                     .Int("mode", 0755)
                     .Int("negative", -1)
                     .Xxh("content", base::Xxh128{0x0123456789abcdefULL, 0xfedcba9876543210ULL})
                     .Input(ExecKey())
                     .Finish();
  EXPECT_EQ(key.hex(), "3223628f54f2122c67a1db6bfe38f10b52dab901779f9a3a7d5645d3ca2ae153");
}

TEST(CacheKeyTest, FieldBoundariesAreUnambiguous) {
  std::set<std::string> keys = {
      CacheKeyBuilder("op").String("ab", "c").Finish().hex(),
      CacheKeyBuilder("op").String("a", "bc").Finish().hex(),
      CacheKeyBuilder("op").Bytes("ab", "c").Finish().hex(),
      CacheKeyBuilder("opa").String("b", "c").Finish().hex(),
      CacheKeyBuilder("op").String("ab", "").String("", "c").Finish().hex(),
      CacheKeyBuilder("op").String("ab", "c").String("", "").Finish().hex(),
  };
  EXPECT_EQ(keys.size(), 6u);
}

TEST(CacheKeyTest, InputOrderMatters) {
  CacheKey a = base::Digest::Of("a"), b = base::Digest::Of("b");
  EXPECT_NE(CacheKeyBuilder("merge").Input(a).Input(b).Finish(),
            CacheKeyBuilder("merge").Input(b).Input(a).Finish());
  EXPECT_EQ(CacheKeyBuilder("merge").Input(a).Input(b).Finish(),
            CacheKeyBuilder("merge").Input(a).Input(b).Finish());
}

}  // namespace
}  // namespace kiln::cache
