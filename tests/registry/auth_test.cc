// WWW-Authenticate parsing (RFC 7235).
#include "engine/registry/auth.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kiln::engine::registry {
namespace {

TEST(ChallengeTest, BearerWithQuotedCommasAndSeveralScopes) {
  auto c = ParseChallenges(
      R"(Bearer realm="https://auth.example/token",service="reg, one",)"
      R"(scope="repository:a/b:pull,push repository:c:pull",error="insufficient_scope")");
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_EQ(c->size(), 1u);
  EXPECT_EQ((*c)[0].scheme, "bearer");
  EXPECT_EQ((*c)[0].params.at("realm"), "https://auth.example/token");
  EXPECT_EQ((*c)[0].params.at("service"), "reg, one");
  EXPECT_EQ((*c)[0].params.at("scope"), "repository:a/b:pull,push repository:c:pull");
  EXPECT_EQ((*c)[0].params.at("error"), "insufficient_scope");
}

TEST(ChallengeTest, SeveralChallengesAndEscapes) {
  auto c = ParseChallenges(R"(Basic realm="a \"quoted\" realm", Bearer realm=tok,service=s)");
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_EQ(c->size(), 2u);
  EXPECT_EQ((*c)[0].scheme, "basic");
  EXPECT_EQ((*c)[0].params.at("realm"), "a \"quoted\" realm");
  EXPECT_EQ((*c)[1].scheme, "bearer");
  EXPECT_EQ((*c)[1].params.at("realm"), "tok");
  EXPECT_EQ((*c)[1].params.at("service"), "s");
}

TEST(ChallengeTest, MalformedIsAnError) {
  EXPECT_FALSE(ParseChallenges(R"(Bearer realm="unterminated)").ok());
  EXPECT_FALSE(ParseChallenges("").ok());
  EXPECT_FALSE(ParseChallenges("=x").ok());
}

}  // namespace
}  // namespace kiln::engine::registry
