#include "engine/frontend/dockerignore.h"

#include "gtest/gtest.h"

namespace kiln::engine {
namespace {

DockerignoreMatcher M(std::string_view text) {
  absl::StatusOr<DockerignoreMatcher> m = DockerignoreMatcher::Create(ReadDockerignore(text));
  EXPECT_TRUE(m.ok()) << m.status();
  return m.ok() ? *std::move(m) : DockerignoreMatcher();
}

TEST(DockerignoreTest, ReadCleansAndSkipsComments) {
  EXPECT_EQ(ReadDockerignore("\xEF\xBB\xBF# c\n\n  /a/../b/  \n! /c\n  #notcomment\n"),
            (std::vector<std::string>{"b", "!c", "#notcomment"}));
}

TEST(DockerignoreTest, StarsAndQuestion) {
  DockerignoreMatcher m = M("*.md\n**/*.log\ndocs/**\n?.txt\n");
  EXPECT_TRUE(m.Excluded("README.md"));
  EXPECT_FALSE(m.Excluded("sub/README.md"));  // '*' does not cross '/'
  EXPECT_TRUE(m.Excluded("a.log"));
  EXPECT_TRUE(m.Excluded("x/y/z.log"));
  EXPECT_TRUE(m.Excluded("docs/a/b"));
  EXPECT_TRUE(m.Excluded("a.txt"));
  EXPECT_FALSE(m.Excluded("ab.txt"));
  EXPECT_FALSE(m.Excluded("main.go"));
}

TEST(DockerignoreTest, ExceptionsLastMatchWins) {
  DockerignoreMatcher m = M("*.md\n!README.md\nREADME*\n");
  EXPECT_TRUE(m.Excluded("CHANGES.md"));
  EXPECT_TRUE(m.Excluded("README.md"));
  DockerignoreMatcher m2 = M("*.md\n!README.md\n");
  EXPECT_FALSE(m2.Excluded("README.md"));
  EXPECT_TRUE(m2.has_exceptions());
}

TEST(DockerignoreTest, ParentDirectoryMatchExcludesContents) {
  DockerignoreMatcher m = M("node_modules\n/build\n");
  EXPECT_TRUE(m.Excluded("node_modules/x/y.js"));
  EXPECT_TRUE(m.Excluded("build/out.o"));
  EXPECT_FALSE(m.Excluded("src/node_modules_x"));
  EXPECT_TRUE(m.Excluded("./build/../build/a"));
}

TEST(DockerignoreTest, ClassesAndEscapes) {
  DockerignoreMatcher m = M("file[0-9].txt\nx\\*y\n");
  EXPECT_TRUE(m.Excluded("file3.txt"));
  EXPECT_FALSE(m.Excluded("fileA.txt"));
  EXPECT_TRUE(m.Excluded("x*y"));
  EXPECT_FALSE(m.Excluded("xzy"));
  EXPECT_FALSE(DockerignoreMatcher::Create({"a[b"}).ok());
  EXPECT_FALSE(DockerignoreMatcher::Create({"!"}).ok());
}

TEST(DockerignoreTest, DoubleStarForms) {
  DockerignoreMatcher m = M("**/tmp\n");
  EXPECT_TRUE(m.Excluded("tmp"));
  EXPECT_TRUE(m.Excluded("a/b/tmp"));
  EXPECT_TRUE(m.Excluded("a/b/tmp/file"));
  EXPECT_FALSE(m.Excluded("a/tmpx"));
  DockerignoreMatcher all = M("**\n!keep\n");
  EXPECT_TRUE(all.Excluded("anything/at/all"));
  EXPECT_FALSE(all.Excluded("keep"));
}

TEST(DockerignoreTest, CanSkipDir) {
  DockerignoreMatcher m = M("vendor\nbuild\n!build/keep.txt\n");
  EXPECT_TRUE(m.CanSkipDir("vendor"));
  EXPECT_FALSE(m.CanSkipDir("build"));   // an exception may re-include build/keep.txt
  EXPECT_FALSE(m.CanSkipDir("src"));     // not excluded at all
  DockerignoreMatcher deep = M("*\n!**/*.go\n");
  EXPECT_FALSE(deep.CanSkipDir("pkg"));  // ** exception could match anywhere
}

}  // namespace
}  // namespace kiln::engine
