// The tree copier behind NativeSnapshotter and overlay flattening, on real files.
#include "snapshotter/tree_copy.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "base/fs.h"
#include "base/userns.h"
#include "gtest/gtest.h"
#include "tests/snapshotter/test_util.h"

namespace kiln::snapshotter::testing {
namespace {

using internal::CopyTree;
using internal::OpenDir;

void SetTime(const std::string& path, time_t sec, long nsec) {
  struct timespec t[2] = {{sec, nsec}, {sec, nsec}};
  ASSERT_EQ(::utimensat(AT_FDCWD, path.c_str(), t, AT_SYMLINK_NOFOLLOW), 0) << path;
}

std::string Xattr(const std::string& path, const char* name) {
  char buf[64];
  ssize_t n = ::lgetxattr(path.c_str(), name, buf, sizeof buf);
  return n < 0 ? "<none>" : std::string(buf, static_cast<size_t>(n));
}

TEST(TreeCopyTest, CopyPreservesTypesModesOwnersXattrsLinksAndTimes) {
  std::string src = NewDir("copy-src"), dst = NewDir("copy-dst");
  KILN_ASSERT_OK(WriteFile(src + "/file", "content", 0751));
  ASSERT_EQ(::setxattr((src + "/file").c_str(), "user.a", "b", 1, 0), 0);
  ASSERT_EQ(::chown((src + "/file").c_str(), 1234, 2345), 0) << "needs a full id mapping";
  ASSERT_EQ(::chmod((src + "/file").c_str(), 04751), 0);
  KILN_ASSERT_OK(WriteFile(src + "/big", std::string(3 << 20, 'z')));
  ASSERT_EQ(::mkdir((src + "/dir").c_str(), 0700), 0);
  ASSERT_EQ(::mkdir((src + "/dir/ro").c_str(), 0555), 0);
  KILN_ASSERT_OK(WriteFile(src + "/dir/inner", ""));
  ASSERT_EQ(::link((src + "/dir/inner").c_str(), (src + "/hard").c_str()), 0);
  ASSERT_EQ(::symlink("../outside/target", (src + "/dir/link").c_str()), 0);
  ASSERT_EQ(::mkfifo((src + "/fifo").c_str(), 0640), 0);
  SetTime(src + "/file", 1234567890, 123456789);
  SetTime(src + "/dir/link", 1000, 5);
  SetTime(src + "/dir", 2000, 7);
  SetTime(src, 3000, 9);

  KILN_ASSERT_OK_AND_ASSIGN(base::UniqueFd s, OpenDir(src));
  KILN_ASSERT_OK_AND_ASSIGN(base::UniqueFd d, OpenDir(dst));
  KILN_ASSERT_OK_AND_ASSIGN(internal::CopyStats stats, CopyTree(s.get(), d.get(), {}));
  EXPECT_EQ(stats.entries, 8);  // file big dir dir/ro dir/inner hard dir/link fifo

  KILN_ASSERT_OK_AND_ASSIGN(Tree want, ReadTree(src));
  KILN_ASSERT_OK_AND_ASSIGN(Tree got, ReadTree(dst));
  EXPECT_EQ(got, want);
  for (const auto& [rel, desc] : want) {
    struct stat a, b;
    ASSERT_EQ(::lstat((src + "/" + rel).c_str(), &a), 0);
    ASSERT_EQ(::lstat((dst + "/" + rel).c_str(), &b), 0);
    EXPECT_EQ(a.st_mode, b.st_mode) << rel;
    EXPECT_EQ(a.st_uid, b.st_uid) << rel;
    EXPECT_EQ(a.st_gid, b.st_gid) << rel;
    EXPECT_EQ(a.st_mtim.tv_sec, b.st_mtim.tv_sec) << rel;
    EXPECT_EQ(a.st_mtim.tv_nsec, b.st_mtim.tv_nsec) << rel;
  }
  struct stat root_st, inner, hard;
  ASSERT_EQ(::stat(dst.c_str(), &root_st), 0);
  EXPECT_EQ(root_st.st_mtim.tv_sec, 3000);
  ASSERT_EQ(::lstat((dst + "/dir/inner").c_str(), &inner), 0);
  ASSERT_EQ(::lstat((dst + "/hard").c_str(), &hard), 0);
  EXPECT_EQ(inner.st_ino, hard.st_ino);
  EXPECT_EQ(Xattr(dst + "/file", "user.a"), "b");
}

TEST(TreeCopyTest, DeviceNodesCopyWhereTheKernelAllows) {
  std::string src = NewDir("dev-src"), dst = NewDir("dev-dst");
  int rc = ::mknod((src + "/null").c_str(), S_IFCHR | 0666, makedev(1, 3));
  if (base::InUserNamespace()) {
    // Rootless: the kernel refuses device nodes, so none can exist in our trees.
    ASSERT_NE(rc, 0);
    EXPECT_EQ(errno, EPERM);
    return;
  }
  ASSERT_EQ(rc, 0);
  KILN_ASSERT_OK_AND_ASSIGN(base::UniqueFd s, OpenDir(src));
  KILN_ASSERT_OK_AND_ASSIGN(base::UniqueFd d, OpenDir(dst));
  KILN_ASSERT_OK_AND_ASSIGN(internal::CopyStats stats, CopyTree(s.get(), d.get(), {}));
  EXPECT_EQ(stats.skipped_devices, 0);
  KILN_ASSERT_OK_AND_ASSIGN(Tree got, ReadTree(dst));
  EXPECT_EQ(got, (Tree{{"null", "chr 1/3"}}));
}

TEST(TreeCopyTest, OverlayLayerAppliesWhiteoutsAndOpaqueDirs) {
  std::string lower = NewDir("merge-dst"), upper = NewDir("merge-src");
  KILN_ASSERT_OK(WriteFile(lower + "/a", "a"));
  KILN_ASSERT_OK(WriteFile(lower + "/b", "b"));
  ASSERT_EQ(::mkdir((lower + "/d").c_str(), 0755), 0);
  KILN_ASSERT_OK(WriteFile(lower + "/d/x", "x"));
  ASSERT_EQ(::mkdir((lower + "/o").c_str(), 0755), 0);
  KILN_ASSERT_OK(WriteFile(lower + "/o/1", "1"));
  ASSERT_EQ(::mkdir((lower + "/gone").c_str(), 0755), 0);
  KILN_ASSERT_OK(WriteFile(lower + "/gone/deep", "deep"));

  ASSERT_EQ(::mknod((upper + "/b").c_str(), S_IFCHR | 0000, makedev(0, 0)), 0)
      << "whiteouts (0/0 char devices) must be creatable: " << std::strerror(errno);
  ASSERT_EQ(::mknod((upper + "/gone").c_str(), S_IFCHR | 0000, makedev(0, 0)), 0);
  ASSERT_EQ(::mkdir((upper + "/a").c_str(), 0700), 0);  // file -> dir
  ASSERT_EQ(::mkdir((upper + "/d").c_str(), 0755), 0);
  KILN_ASSERT_OK(WriteFile(upper + "/d/z", "z"));
  ASSERT_EQ(::mkdir((upper + "/o").c_str(), 0755), 0);
  const char* opaque = base::InUserNamespace() ? "user.overlay.opaque" : "trusted.overlay.opaque";
  ASSERT_EQ(::setxattr((upper + "/o").c_str(), opaque, "y", 1, 0), 0) << std::strerror(errno);
  KILN_ASSERT_OK(WriteFile(upper + "/o/2", "2"));

  KILN_ASSERT_OK_AND_ASSIGN(base::UniqueFd s, OpenDir(upper));
  KILN_ASSERT_OK_AND_ASSIGN(base::UniqueFd d, OpenDir(lower));
  KILN_ASSERT_OK_AND_ASSIGN(internal::CopyStats stats,
                            CopyTree(s.get(), d.get(), {.overlay_layer = true}));
  EXPECT_EQ(stats.whiteouts, 2);
  KILN_ASSERT_OK_AND_ASSIGN(Tree got, ReadTree(lower));
  EXPECT_EQ(got, (Tree{{"a", "dir 0700"},
                       {"d", "dir 0755"},
                       {"d/x", "file 0644 x"},
                       {"d/z", "file 0644 z"},
                       {"o", "dir 0755"},
                       {"o/2", "file 0644 2"}}));
  EXPECT_EQ(Xattr(lower + "/o", opaque), "<none>") << "overlay xattrs must not be copied";
}

TEST(TreeCopyTest, UsageAndRemoval) {
  std::string dir = NewDir("usage");
  ASSERT_EQ(::mkdir((dir + "/sub").c_str(), 0755), 0);
  KILN_ASSERT_OK(WriteFile(dir + "/sub/f", std::string(100000, 'x')));
  ASSERT_EQ(::link((dir + "/sub/f").c_str(), (dir + "/f2").c_str()), 0);
  ASSERT_EQ(::chmod((dir + "/sub").c_str(), 0555), 0);
  KILN_ASSERT_OK_AND_ASSIGN(base::UniqueFd fd, OpenDir(dir));
  KILN_ASSERT_OK_AND_ASSIGN(DiskUsage u, internal::TreeUsage(fd.get()));
  EXPECT_EQ(u.inodes, 3);
  EXPECT_GE(u.size, 100000);
  EXPECT_LT(u.size, 200000);
  KILN_ASSERT_OK(base::RemoveTreeAt(fd.get(), "sub"));
  KILN_ASSERT_OK(base::RemoveTreeAt(fd.get(), "missing-is-fine"));
  KILN_ASSERT_OK_AND_ASSIGN(Tree left, ReadTree(dir));
  EXPECT_EQ(left, (Tree{{"f2", "file 0644 " + std::string(100000, 'x')}}));
}

}  // namespace
}  // namespace kiln::snapshotter::testing
