#include "base/path.h"

#include <gtest/gtest.h>

namespace kiln::base {
namespace {

TEST(PathTest, CleanPathFollowsGoPathClean) {
  // The cases of Go's path.Clean documentation and tests.
  const std::pair<const char*, const char*> cases[] = {
      {"", "."},
      {"abc", "abc"},
      {"abc/def", "abc/def"},
      {"a/b/c", "a/b/c"},
      {".", "."},
      {"..", ".."},
      {"../..", "../.."},
      {"../../abc", "../../abc"},
      {"/abc", "/abc"},
      {"/", "/"},
      {"abc/", "abc"},
      {"/abc/", "/abc"},
      {"abc//def//ghi", "abc/def/ghi"},
      {"//abc", "/abc"},
      {"///abc", "/abc"},
      {"abc/./def", "abc/def"},
      {"/./abc/def", "/abc/def"},
      {"abc/.", "abc"},
      {"abc/def/ghi/../jkl", "abc/def/jkl"},
      {"abc/def/../ghi/../jkl", "abc/jkl"},
      {"abc/def/..", "abc"},
      {"abc/def/../..", "."},
      {"/abc/def/../..", "/"},
      {"abc/def/../../..", ".."},
      {"/abc/def/../../..", "/"},
      {"abc/def/../../../ghi/jkl/../../../mno", "../../mno"},
      {"abc/./../def", "def"},
      {"abc//./../def", "def"},
      {"abc/../../././../def", "../../def"},
      {"/..", "/"},
      {"/../a", "/a"},
  };
  for (const auto& [in, want] : cases) EXPECT_EQ(CleanPath(in), want) << "'" << in << "'";
}

TEST(PathTest, CleanInRootStopsAtTheRoot) {
  EXPECT_EQ(CleanInRoot(""), "");
  EXPECT_EQ(CleanInRoot("/"), "");
  EXPECT_EQ(CleanInRoot("."), "");
  EXPECT_EQ(CleanInRoot("../../etc/passwd"), "etc/passwd");
  EXPECT_EQ(CleanInRoot("/a/b/../../../c"), "c");
  EXPECT_EQ(CleanInRoot("./a//b/./"), "a/b");
}

TEST(PathTest, CleanBeneathRefusesEscapes) {
  EXPECT_EQ(*CleanBeneath("./a//b/../c"), "a/c");
  EXPECT_EQ(*CleanBeneath("/a/b"), "a/b");
  EXPECT_EQ(*CleanBeneath("a/.."), "");
  EXPECT_EQ(*CleanBeneath(""), "");
  for (std::string_view bad : {"..", "../a", "a/../../b", "/../x", "a/b/../../.."}) {
    absl::StatusOr<std::string> r = CleanBeneath(bad);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
  EXPECT_EQ(CleanBeneath(std::string_view("a\0b", 3)).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(PathTest, ComponentsDotDotJoinSplit) {
  EXPECT_EQ(PathComponents("/a//./b/../c/"), (std::vector<std::string>{"a", "b", "..", "c"}));
  EXPECT_TRUE(PathComponents("/").empty());
  EXPECT_TRUE(HasDotDot("a/../b"));
  EXPECT_TRUE(HasDotDot(".."));
  EXPECT_FALSE(HasDotDot("a/..b/c.."));
  EXPECT_EQ(JoinPath("a", "b"), "a/b");
  EXPECT_EQ(JoinPath("a/", "b"), "a/b");
  EXPECT_EQ(JoinPath(".", "b"), "b");
  EXPECT_EQ(JoinPath("", "b"), "b");
  EXPECT_EQ(JoinPath("a", ""), "a");
  EXPECT_EQ(SplitDirBase("a/b/c"), (std::pair<std::string, std::string>{"a/b", "c"}));
  EXPECT_EQ(SplitDirBase("c"), (std::pair<std::string, std::string>{"", "c"}));
  EXPECT_EQ(SplitDirBase("/c"), (std::pair<std::string, std::string>{"/", "c"}));
}

}  // namespace
}  // namespace kiln::base
