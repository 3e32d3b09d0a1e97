#include "base/digest.h"

#include <gtest/gtest.h>

namespace kiln::base {
namespace {

TEST(DigestTest, Sha256OfKnownVectors) {
  EXPECT_EQ(Digest::Of("").str(),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Digest::Of("abc").str(),
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(DigestTest, StreamingMatchesOneShot) {
  Sha256 h;
  h.Update("a");
  h.Update("bc");
  EXPECT_EQ(h.Finish(), Digest::Of("abc"));
  // Reusable after Finish.
  h.Update("");
  EXPECT_EQ(h.Finish(), Digest::Of(""));
}

TEST(DigestTest, ParseRoundTripAndErrors) {
  auto d = Digest::Of("x");
  auto parsed = Digest::Parse(d.str());
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(*parsed, d);
  EXPECT_EQ(d.short_hex().size(), 12u);
  EXPECT_FALSE(Digest::Parse("sha512:00").ok());
  EXPECT_FALSE(Digest::Parse("sha256:abc").ok());
  EXPECT_FALSE(Digest::Parse("sha256:" + std::string(64, 'G')).ok());
}

TEST(Xxh128Test, StreamingMatchesOneShotAndDiffers) {
  Xxh128Hasher h;
  h.Update("hello ");
  h.Update("world");
  Xxh128 a = h.Finish();
  EXPECT_EQ(a, Xxh128Of("hello world"));
  EXPECT_NE(a, Xxh128Of("hello worle"));
  EXPECT_EQ(a.hex().size(), 32u);
}

}  // namespace
}  // namespace kiln::base
