// Golden tests for the cache-key recipe (cache/cache_key.h). A failure here means the recipe
// changed: every existing cache entry is invalidated. If that is intended, bump
// kCacheKeyVersion and record the new digests in the same commit. The version-1 digests were
// cross-checked with an independent Python implementation of the recipe in cache_key.h; the
// version-2 ones differ only by the version word.
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

TEST(CacheKeyGoldenTest, EmptyOp) {
  EXPECT_EQ(CacheKeyBuilder("").Finish().hex(),
            "08c14ba853573e03ddbeae5e03bb20dd6d853fa437c1d7951f22620193244c3e");
}

TEST(CacheKeyGoldenTest, ImageSource) {
  EXPECT_EQ(CacheKeyBuilder("source.image")
                .Digest("manifest", base::Digest::Of("manifest bytes"))
                .Finish()
                .hex(),
            "b00d3ebc37028f61fceb904377890f4f213ebfffae26928e095723a3de6f63a8");
}

TEST(CacheKeyGoldenTest, ExecWithInput) {
  EXPECT_EQ(ExecKey().hex(), "3f504118a585edf2c56917ae1ccd04ca354eb3854c162da08bae7bfe556a30ca");
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
  EXPECT_EQ(key.hex(), "e2d2535fb4b2a4e3914188d0ea46406b14ad7e62057d91771979582c68b879b9");
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
