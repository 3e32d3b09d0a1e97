// Every path here is inside a scratch dir this test makes (TempDir under $TMPDIR or /tmp).
// Refusal cases pass names that the functions must refuse before touching anything, with a
// directory fd *inside* the scratch dir, and a sentinel file checks that nothing was touched.
#include "base/fs.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sched.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <functional>
#include <sstream>

#include "base/temp_dir.h"

namespace kiln::base {
namespace {

class FsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = TempDir::Create("kiln-fs-test-");
    ASSERT_TRUE(dir.ok()) << dir.status();
    dir_ = std::move(*dir);
    root_ = dir_.path() + "/root";
    outside_ = dir_.path() + "/outside";
    ASSERT_EQ(::mkdir(root_.c_str(), 0755), 0);
    ASSERT_EQ(::mkdir(outside_.c_str(), 0755), 0);
    Write(outside_ + "/sentinel", "keep");
    root_fd_.reset(::open(root_.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    ASSERT_TRUE(root_fd_.valid());
  }

  static void Write(const std::string& path, const std::string& text) {
    std::ofstream(path) << text;
  }
  static std::string Read(const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  static bool Exists(const std::string& path) {
    struct stat st;
    return ::lstat(path.c_str(), &st) == 0;
  }
  void ExpectSentinel() { EXPECT_EQ(Read(outside_ + "/sentinel"), "keep"); }

  TempDir dir_;
  std::string root_, outside_;
  UniqueFd root_fd_;
};

TEST_F(FsTest, OpenInRootKeepsSymlinksAndDotDotInside) {
  ASSERT_EQ(::mkdir((root_ + "/etc").c_str(), 0755), 0);
  Write(root_ + "/etc/passwd", "inside");
  ASSERT_EQ(::symlink("/etc/passwd", (root_ + "/abs").c_str()), 0);
  ASSERT_EQ(::symlink("../../../../../etc/passwd", (root_ + "/rel").c_str()), 0);
  for (const char* name : {"abs", "rel", "../../etc/passwd", "/etc/passwd"}) {
    absl::StatusOr<UniqueFd> fd = OpenInRoot(root_fd_.get(), name, O_RDONLY);
    ASSERT_TRUE(fd.ok()) << name << ": " << fd.status();
    absl::StatusOr<std::string> text = ReadAll(fd->get(), name);
    ASSERT_TRUE(text.ok()) << text.status();
    EXPECT_EQ(*text, "inside") << name;
  }
  absl::StatusOr<UniqueFd> self = OpenInRoot(root_fd_.get(), "", O_RDONLY | O_DIRECTORY);
  ASSERT_TRUE(self.ok()) << self.status();
  absl::StatusOr<UniqueFd> missing = OpenInRoot(root_fd_.get(), "nope", O_RDONLY);
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound) << missing.status();
  EXPECT_NE(missing.status().message().find("open 'nope'"), std::string::npos);
}

TEST_F(FsTest, OpenBeneathRefusesEscapesAndSymlinks) {
  Write(root_ + "/file", "x");
  ASSERT_EQ(::symlink("file", (root_ + "/link").c_str()), 0);
  ASSERT_EQ(::symlink(outside_.c_str(), (root_ + "/out").c_str()), 0);
  EXPECT_TRUE(OpenInRoot(root_fd_.get(), "link", O_RDONLY, kResolveBeneath).ok());
  EXPECT_FALSE(OpenInRoot(root_fd_.get(), "out/sentinel", O_RDONLY, kResolveBeneath).ok());
  EXPECT_FALSE(OpenInRoot(root_fd_.get(), "../outside/sentinel", O_RDONLY, kResolveBeneath).ok());
  errno = 0;
  EXPECT_LT(OpenAt2(root_fd_.get(), "link", O_RDONLY, 0, kResolveBeneathNoSymlinks), 0);
  EXPECT_EQ(errno, ELOOP);
  EXPECT_LT(OpenAt2(root_fd_.get(), "../outside/sentinel", O_RDONLY, 0, kResolveBeneath), 0);
  EXPECT_EQ(errno, EXDEV);
  int fd = OpenAt2(root_fd_.get(), "file", O_RDONLY, 0, kResolveBeneathNoSymlinks);
  ASSERT_GE(fd, 0);
  EXPECT_NE(::fcntl(fd, F_GETFD) & FD_CLOEXEC, 0);
  ::close(fd);
}

TEST_F(FsTest, ListDirGivesEveryEntryButDots) {
  Write(root_ + "/b", "");
  ASSERT_EQ(::mkdir((root_ + "/a").c_str(), 0755), 0);
  ASSERT_EQ(::symlink("b", (root_ + "/c").c_str()), 0);
  absl::StatusOr<std::vector<DirEntry>> list = ListDir(root_fd_.get(), /*sorted=*/true);
  ASSERT_TRUE(list.ok()) << list.status();
  ASSERT_EQ(list->size(), 3u);
  EXPECT_EQ((*list)[0].name, "a");
  EXPECT_EQ((*list)[1].name, "b");
  EXPECT_EQ((*list)[2].name, "c");
  if ((*list)[0].type != DT_UNKNOWN) {
    EXPECT_EQ((*list)[0].type, DT_DIR);
    EXPECT_EQ((*list)[1].type, DT_REG);
    EXPECT_EQ((*list)[2].type, DT_LNK);
  }
  int seen = 0;
  ASSERT_TRUE(ForEachDirEntry(root_fd_.get(), [&](const DirEntry&) { return ++seen < 2; }).ok());
  EXPECT_EQ(seen, 2);
  // Listing twice from the same fd gives the same entries (the fd's offset is not used).
  absl::StatusOr<std::vector<DirEntry>> again = ListDir(root_fd_.get(), true);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->size(), 3u);
  UniqueFd file(::open((root_ + "/b").c_str(), O_RDONLY | O_CLOEXEC));
  EXPECT_FALSE(ListDir(file.get()).ok());
}

TEST_F(FsTest, MkdirAllAtCreatesAndNeverFollowsSymlinks) {
  absl::StatusOr<UniqueFd> made = MkdirAllAt(root_fd_.get(), "/a//b/./c/", 0750);
  ASSERT_TRUE(made.ok()) << made.status();
  struct stat want, got;
  ASSERT_EQ(::stat((root_ + "/a/b/c").c_str(), &want), 0);
  ASSERT_EQ(::fstat(made->get(), &got), 0);
  EXPECT_EQ(want.st_ino, got.st_ino);
  EXPECT_TRUE(MkdirAllAt(root_fd_.get(), "a/b", 0755).ok());  // existing is fine

  ASSERT_EQ(::symlink(outside_.c_str(), (root_ + "/evil").c_str()), 0);
  absl::StatusOr<UniqueFd> evil = MkdirAllAt(root_fd_.get(), "evil/made", 0755);
  EXPECT_FALSE(evil.ok());
  EXPECT_NE(evil.status().message().find("mkdir 'evil'"), std::string::npos) << evil.status();
  EXPECT_FALSE(Exists(outside_ + "/made"));
  Write(root_ + "/file", "");
  EXPECT_FALSE(MkdirAllAt(root_fd_.get(), "file/x", 0755).ok());

  absl::StatusOr<UniqueFd> up = MkdirAllAt(root_fd_.get(), "a/../../outside/made", 0755);
  EXPECT_EQ(up.status().code(), absl::StatusCode::kInvalidArgument) << up.status();
  EXPECT_FALSE(Exists(outside_ + "/made"));
  ExpectSentinel();
}

TEST_F(FsTest, MkdirAllOnAPath) {
  ASSERT_TRUE(MkdirAll(root_ + "/x/y/z", 0700).ok());
  struct stat st;
  ASSERT_EQ(::stat((root_ + "/x/y/z").c_str(), &st), 0);
  EXPECT_TRUE(S_ISDIR(st.st_mode));
  EXPECT_TRUE(MkdirAll(root_ + "/x/y/z", 0700).ok());
  Write(root_ + "/f", "");
  EXPECT_FALSE(MkdirAll(root_ + "/f", 0700).ok());
  EXPECT_FALSE(MkdirAll(root_ + "/f/g", 0700).ok());
}

TEST_F(FsTest, RemoveTreeAtRemovesHostileTreesAndNothingElse) {
  const std::string t = root_ + "/t";
  ASSERT_EQ(::mkdir(t.c_str(), 0755), 0);
  ASSERT_EQ(::mkdir((t + "/ro").c_str(), 0755), 0);
  Write(t + "/ro/file", "x");
  ASSERT_EQ(::mkdir((t + "/ro/none").c_str(), 0755), 0);
  Write(t + "/ro/none/deep", "x");
  ASSERT_EQ(::chmod((t + "/ro/none").c_str(), 0), 0);
  ASSERT_EQ(::chmod((t + "/ro").c_str(), 0555), 0);
  ASSERT_EQ(::symlink(outside_.c_str(), (t + "/out").c_str()), 0);
  ASSERT_EQ(::symlink((outside_ + "/sentinel").c_str(), (t + "/sentinel-link").c_str()), 0);
  UniqueFd dirfd(::open(root_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  absl::Status s = RemoveTreeAt(dirfd.get(), "t");
  EXPECT_TRUE(s.ok()) << s;
  EXPECT_FALSE(Exists(t));
  ExpectSentinel();
  EXPECT_TRUE(RemoveTreeAt(dirfd.get(), "t").ok());  // missing is fine
  // A symlink at the top is removed itself, never its target.
  ASSERT_EQ(::symlink(outside_.c_str(), (root_ + "/top").c_str()), 0);
  EXPECT_TRUE(RemoveTreeAt(dirfd.get(), "top").ok());
  EXPECT_FALSE(Exists(root_ + "/top"));
  ExpectSentinel();
}

TEST_F(FsTest, RemoveTreeAtRefusesBadNamesBeforeTouchingAnything) {
  // dirfd is root_, a subdirectory of the scratch dir: even a broken guard could reach only
  // the scratch dir. The sentinel and root_'s own entry must all survive.
  Write(root_ + "/keep", "k");
  UniqueFd dirfd(::open(root_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  for (std::string_view bad :
       {std::string_view(""), std::string_view("."), std::string_view(".."),
        std::string_view("keep/"), std::string_view("a/b"), std::string_view("k\0eep", 5)}) {
    absl::Status s = RemoveTreeAt(dirfd.get(), bad);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << "'" << bad << "': " << s;
  }
  EXPECT_EQ(Read(root_ + "/keep"), "k");
  ExpectSentinel();
}

// Mounts a tmpfs below `root`, checks that RemoveTree stops there and touches nothing in it,
// unmounts, removes. Returns "" or what went wrong (it also runs in a forked child).
std::string RemoveTreeStopsAtAMount(const std::string& root) {
  const std::string t = root + "/t";
  const std::string m = t + "/m";
  if (::mkdir(t.c_str(), 0755) != 0 || ::mkdir(m.c_str(), 0755) != 0) return "mkdir failed";
  if (::mount("tmpfs", m.c_str(), "tmpfs", 0, "size=1m") != 0) {
    return std::string("mount tmpfs: ") + strerror(errno);
  }
  { std::ofstream(m + "/inside") << "mounted"; }
  absl::Status s = RemoveTree(t);
  std::string inside;
  { std::ifstream(m + "/inside") >> inside; }
  if (::umount2(m.c_str(), MNT_DETACH) != 0) return std::string("umount: ") + strerror(errno);
  if (s.code() != absl::StatusCode::kFailedPrecondition) return "not refused: " + s.ToString();
  if (inside != "mounted") return "the file inside the mount was touched";
  if (absl::Status r = RemoveTree(t); !r.ok()) return "remove after umount: " + r.ToString();
  struct stat st;
  if (::lstat(t.c_str(), &st) == 0) return "the tree is still there after umount";
  return "";
}

// Rootless: a user and mount namespace of this process's own may mount a tmpfs.
std::string InOwnUserNamespace(const std::function<std::string()>& body) {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) return "pipe2 failed";
  const uid_t uid = ::getuid();
  const gid_t gid = ::getgid();
  pid_t pid = ::fork();
  if (pid == 0) {
    ::close(p[0]);
    auto put = [](const std::string& path, const std::string& text) {
      std::ofstream f(path);
      f << text;
      return static_cast<bool>(f.flush());
    };
    std::string err;
    if (::unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0) {
      err = std::string("unshare user+mount namespace: ") + strerror(errno);
    } else if (!put("/proc/self/setgroups", "deny") ||
               !put("/proc/self/uid_map", "0 " + std::to_string(uid) + " 1") ||
               !put("/proc/self/gid_map", "0 " + std::to_string(gid) + " 1")) {
      err = "write the id maps failed";
    } else if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
      err = std::string("make / private: ") + strerror(errno);
    } else {
      err = body();
    }
    (void)!::write(p[1], err.data(), err.size());
    ::_exit(err.empty() ? 0 : 1);
  }
  ::close(p[1]);
  std::string out;
  char buf[512];
  ssize_t n;
  while ((n = ::read(p[0], buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  ::close(p[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (out.empty() && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) return "child failed";
  return out;
}

TEST_F(FsTest, RemoveTreeStopsAtMountPoints) {
  if (::geteuid() == 0) {
    EXPECT_EQ(RemoveTreeStopsAtAMount(root_), "");
  } else {
    EXPECT_EQ(InOwnUserNamespace([&] { return RemoveTreeStopsAtAMount(root_); }), "");
  }
  EXPECT_FALSE(Exists(root_ + "/t"));
  ExpectSentinel();
}

TEST_F(FsTest, WriteFileAtomicallyReplacesOrLeavesTheOldFile) {
  UniqueFd dirfd(::open(root_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  WriteFileOptions o;
  o.mode = 0600;
  o.sync_dir = true;
  ASSERT_TRUE(WriteFileAtomicallyAt(dirfd.get(), "f", "one", o).ok());
  EXPECT_EQ(Read(root_ + "/f"), "one");
  struct stat st;
  ASSERT_EQ(::stat((root_ + "/f").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_TRUE(WriteFileAtomically(root_ + "/f", "two").ok());
  EXPECT_EQ(Read(root_ + "/f"), "two");
  absl::Status failed = WriteFileAtomicallyAt(dirfd.get(), "f",
                                              [](int fd) {
                                                EXPECT_EQ(::write(fd, "partial", 7), 7);
                                                return absl::InternalError("fill failed");
                                              },
                                              {});
  EXPECT_EQ(failed.code(), absl::StatusCode::kInternal);
  EXPECT_EQ(Read(root_ + "/f"), "two");
  absl::StatusOr<std::vector<DirEntry>> list = ListDir(dirfd.get());
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(list->size(), 1u) << "a temp file was left behind";
  // A symlink at the name is replaced, its target untouched.
  ASSERT_EQ(::symlink((outside_ + "/sentinel").c_str(), (root_ + "/l").c_str()), 0);
  ASSERT_TRUE(WriteFileAtomicallyAt(dirfd.get(), "l", "new").ok());
  ASSERT_EQ(::lstat((root_ + "/l").c_str(), &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode));
  ExpectSentinel();
  for (std::string_view bad : {"", ".", "..", "a/b"}) {
    EXPECT_EQ(WriteFileAtomicallyAt(dirfd.get(), bad, "x").code(),
              absl::StatusCode::kInvalidArgument)
        << bad;
  }
}

TEST_F(FsTest, ReadAllStopsAtTheLimit) {
  Write(root_ + "/big", std::string(100, 'x'));
  UniqueFd fd(::open((root_ + "/big").c_str(), O_RDONLY | O_CLOEXEC));
  EXPECT_EQ(ReadAll(fd.get(), "big", 10).status().code(), absl::StatusCode::kDataLoss);
}

}  // namespace
}  // namespace kiln::base
