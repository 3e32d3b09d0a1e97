#include "base/temp_dir.h"

#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

#include <gtest/gtest.h>

namespace kiln::base {
namespace {

TEST(TempDirTest, CreatesAndRemovesReadOnlyTrees) {
  std::string path;
  {
    auto dir = TempDir::Create("kiln-test-");
    ASSERT_TRUE(dir.ok()) << dir.status();
    path = dir->path();
    ASSERT_EQ(::mkdir((path + "/ro").c_str(), 0755), 0);
    std::ofstream(path + "/ro/file") << "x";
    ASSERT_EQ(::chmod((path + "/ro").c_str(), 0555), 0);
    ASSERT_EQ(::symlink("/etc", (path + "/link").c_str()), 0);
  }
  struct stat st;
  EXPECT_NE(::lstat(path.c_str(), &st), 0) << "temp dir survived: " << path;
  // The symlink target was not followed.
  EXPECT_EQ(::lstat("/etc/passwd", &st), 0);
}

// Only inputs inside the scratch dir: if the guard ever broke, the worst this test could remove
// is its own scratch dir. Never pass "/", ".." or a host path to a remover in a test.
TEST(TempDirTest, RemoveTreeRefusesDotDotAndDot) {
  auto dir = TempDir::Create("kiln-test-");
  ASSERT_TRUE(dir.ok()) << dir.status();
  const std::string sub = dir->path() + "/sub";
  ASSERT_EQ(::mkdir(sub.c_str(), 0755), 0);
  for (const std::string& bad : {std::string(""), sub + "/..", sub + "/.", sub + "/../sub"}) {
    absl::Status s = RemoveTree(bad);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << "'" << bad << "': " << s;
  }
  struct stat st;
  EXPECT_EQ(::lstat(sub.c_str(), &st), 0) << "a refused path removed something";
  EXPECT_TRUE(RemoveTree(sub).ok());
  EXPECT_NE(::lstat(sub.c_str(), &st), 0);
}

TEST(TempDirTest, ReleaseKeepsDirectory) {
  auto dir = TempDir::Create();
  ASSERT_TRUE(dir.ok());
  std::string path = dir->Release();
  struct stat st;
  EXPECT_EQ(::lstat(path.c_str(), &st), 0);
  EXPECT_TRUE(RemoveTree(path).ok());
}

}  // namespace
}  // namespace kiln::base
