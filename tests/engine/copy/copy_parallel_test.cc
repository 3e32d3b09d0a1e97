// Large copies finish file contents on worker threads (engine/copy/copy_pool.h) while the
// walker creates entries in order. These trees are big enough to use the pool; every file
// must still come out exactly as the single-threaded copy makes it.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "tests/engine/copy/copy_fixture.h"

namespace kiln::engine {
namespace {

// Sizes around the 64 KiB read/write buffer and empty files.
std::string Content(int i) {
  static const size_t kSizes[] = {0, 1, 4095, 65536, 65537, 200000};
  std::string s(kSizes[i % 6], '\0');
  for (size_t k = 0; k < s.size(); ++k) s[k] = static_cast<char>('a' + (k * 7 + i) % 26);
  return s;
}

class CopyParallelTest : public CopyTest {
 protected:
  // 4 dirs x 60 files; every 10th file gets a second name (hard link) in the next dir;
  // modes, owners and mtimes vary per file, dirs get their own mtimes after filling.
  void MakeTree() {
    Mkdir(Src("t"));
    for (int d = 0; d < 4; ++d) {
      Mkdir(Src(absl::StrCat("t/d", d)));
      for (int f = 0; f < 60; ++f) {
        std::string p = Src(absl::StrCat("t/d", d, "/f", f));
        Write(p, Content(d * 60 + f), f % 3 == 0 ? 0600 : (f % 3 == 1 ? 0755 : 0640));
        ASSERT_EQ(::chown(p.c_str(), 1000 + f, 2000 + d), 0);
        struct timespec t[2] = {{1000000 + f, 0}, {1500000000 + d * 100 + f, 123456789}};
        ASSERT_EQ(::utimensat(AT_FDCWD, p.c_str(), t, AT_SYMLINK_NOFOLLOW), 0);
      }
    }
    for (int d = 0; d < 3; ++d) {
      for (int f = 0; f < 60; f += 10) {
        ASSERT_EQ(::link(Src(absl::StrCat("t/d", d, "/f", f)).c_str(),
                         Src(absl::StrCat("t/d", d + 1, "/link", f)).c_str()), 0);
      }
    }
    for (int d = 0; d < 4; ++d) {
      struct timespec t[2] = {{1, 0}, {1400000000 + d, 0}};
      ASSERT_EQ(::utimensat(AT_FDCWD, Src(absl::StrCat("t/d", d)).c_str(), t, 0), 0);
    }
  }
};

TEST_F(CopyParallelTest, ManyFilesKeepContentsModesOwnersTimesAndLinks) {
  MakeTree();
  CopyOptions o;
  o.sources = {"t"};
  o.dest = "/out/";
  o.preserve_owner = true;
  auto s = CopyFiles(src_fd_.get(), dst_fd_.get(), o);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->files, 4 * 60 + 3 * 6);
  int64_t want_bytes = 0;
  for (int i = 0; i < 240; ++i) want_bytes += static_cast<int64_t>(Content(i).size());
  EXPECT_EQ(s->bytes, want_bytes) << "bytes copied on worker threads must be counted";
  for (int d = 0; d < 4; ++d) {
    for (int f = 0; f < 60; ++f) {
      std::string rel = absl::StrCat("d", d, "/f", f);
      struct stat a, b;
      ASSERT_EQ(::lstat(Src("t/" + rel).c_str(), &a), 0);
      ASSERT_EQ(::lstat(Dst("out/" + rel).c_str(), &b), 0) << rel;
      EXPECT_EQ(ReadFile(Dst("out/" + rel)), Content(d * 60 + f)) << rel;
      EXPECT_EQ(b.st_mode, a.st_mode) << rel;
      EXPECT_EQ(b.st_uid, a.st_uid) << rel;
      EXPECT_EQ(b.st_gid, a.st_gid) << rel;
      EXPECT_EQ(b.st_mtim.tv_sec, a.st_mtim.tv_sec) << rel;
      EXPECT_EQ(b.st_mtim.tv_nsec, a.st_mtim.tv_nsec) << rel;
    }
    struct stat sd, dd;
    ASSERT_EQ(::stat(Src(absl::StrCat("t/d", d)).c_str(), &sd), 0);
    ASSERT_EQ(::stat(Dst(absl::StrCat("out/d", d)).c_str(), &dd), 0);
    EXPECT_EQ(dd.st_mtim.tv_sec, sd.st_mtim.tv_sec) << "directory times are set after its entries";
  }
  for (int d = 0; d < 3; ++d) {
    for (int f = 0; f < 60; f += 10) {
      struct stat a, b;
      ASSERT_EQ(::stat(Dst(absl::StrCat("out/d", d, "/f", f)).c_str(), &a), 0);
      ASSERT_EQ(::stat(Dst(absl::StrCat("out/d", d + 1, "/link", f)).c_str(), &b), 0);
      EXPECT_EQ(a.st_ino, b.st_ino) << "hard link d" << d << "/f" << f;
    }
  }
}

TEST_F(CopyParallelTest, CopyingOverAnEarlierCopyReplacesFilesAndMergesDirs) {
  MakeTree();
  ASSERT_TRUE(Copy({"t"}, "/out/").ok());
  // Change every file's bytes, then copy again onto the same destination.
  for (int d = 0; d < 4; ++d) {
    for (int f = 0; f < 60; ++f) Write(Src(absl::StrCat("t/d", d, "/f", f)), absl::StrCat("v2 ", d, f));
  }
  Write(Dst("out/d0/only-in-dest"), "kept");
  auto s = Copy({"t"}, "/out/");
  ASSERT_TRUE(s.ok()) << s.status();
  for (int d = 0; d < 4; ++d) {
    for (int f = 0; f < 60; ++f) {
      EXPECT_EQ(ReadFile(Dst(absl::StrCat("out/d", d, "/f", f))), absl::StrCat("v2 ", d, f));
    }
  }
  EXPECT_EQ(ReadFile(Dst("out/d0/only-in-dest")), "kept");
}

TEST_F(CopyParallelTest, AnEntryInTheWayFailsCleanlyWithoutLeakingWorkers) {
  MakeTree();
  // A directory where a file of the tree must go: the copy fails with a clear error (and the
  // walker must drain its in-flight files before returning).
  ASSERT_EQ(::mkdir(Dst("out").c_str(), 0755), 0);
  ASSERT_EQ(::mkdir(Dst("out/d3").c_str(), 0755), 0);
  ASSERT_EQ(::mkdir(Dst("out/d3/f59").c_str(), 0755), 0);
  auto s = Copy({"t"}, "/out/");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("d3/f59"), std::string::npos) << s.status();
  EXPECT_EQ(ReadFile(Dst("out/d0/f1")), Content(1)) << "files before the failure were finished";
}

}  // namespace
}  // namespace kiln::engine
