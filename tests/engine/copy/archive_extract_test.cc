#include "engine/copy/archive_extract.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "tests/engine/copy/copy_fixture.h"
#include "tests/engine/copy/tar_maker.h"

namespace kiln::engine {
namespace {

using testing::MakeTar;
using testing::TarSpec;

class ArchiveTest : public CopyTest {
 protected:
  // Opens Src(name) and returns TarArchive::Open's answer.
  absl::StatusOr<std::unique_ptr<TarArchive>> OpenArchive(const std::string& name) {
    fd_.reset(::open(Src(name).c_str(), O_RDONLY | O_CLOEXEC));
    EXPECT_TRUE(fd_.valid()) << Src(name);
    return TarArchive::Open(fd_.get(), name);
  }
  // Extracts Src(name) into Dst("") with `o`.
  absl::StatusOr<CopyStats> Extract(const std::string& name, const ExtractOptions& o = {}) {
    auto a = OpenArchive(name);
    if (!a.ok()) return a.status();
    if (*a == nullptr) return absl::NotFoundError("not an archive");
    return (*a)->ExtractTo(dst_fd_.get(), o);
  }
  // Nothing at all was written in the host dir (outside both roots).
  void ExpectHostUntouched() {
    std::string out;
    for (const char* n : {"pwned", "escaped", "target"}) {
      if (Exists(Host(n)) && ReadFile(Host(n)) != "host target") out += n;
    }
    EXPECT_TRUE(out.empty()) << "written outside the root: " << out;
    EXPECT_EQ(ReadFile(Host("target")), "host target");
  }
  void SetUp() override {
    CopyTest::SetUp();
    Write(Host("target"), "host target");
  }

  base::UniqueFd fd_;
};

TEST_F(ArchiveTest, EveryCompressionIsDetectedByContentNotName) {
  for (const char* filter : {"none", "gzip", "bzip2", "xz", "zstd"}) {
    SCOPED_TRACE(filter);
    std::string name = std::string("payload-") + filter + ".bin";  // no archive extension
    MakeTar(Src(name), {{"dir", 'd', "", 0755}, {"dir/hello.txt", 'f', filter}}, filter);
    auto s = Extract(name);
    ASSERT_TRUE(s.ok()) << s.status();
    EXPECT_EQ(ReadFile(Dst("dir/hello.txt")), filter);
    EXPECT_EQ(s->files, 1);
  }
}

TEST_F(ArchiveTest, NonArchivesAreNotArchives) {
  Write(Src("text.tar.gz"), "just some text, not a tar at all");
  Write(Src("empty.tar"), "");
  Write(Src("zeros.tar"), std::string(2048, '\0'));  // an end-of-archive marker only
  ASSERT_EQ(std::system(("echo hello | gzip > " + Src("text.gz")).c_str()), 0);
  for (const char* n : {"text.tar.gz", "empty.tar", "zeros.tar", "text.gz"}) {
    auto a = OpenArchive(n);
    ASSERT_TRUE(a.ok()) << n << ": " << a.status();
    EXPECT_EQ(*a, nullptr) << n << " must be copied as a plain file";
  }
}

TEST_F(ArchiveTest, OwnersModesTimesAndTypes) {
  MakeTar(Src("t.tar"), {{"bin", 'd', "", 0750, 1000, 1001, 111},
                         {"bin/tool", 'f', "#!/bin/sh\n", 04755, 1000, 1001, 222},
                         {"bin/alias", 'l', "tool", 0777, 1000, 1001},
                         {"bin/again", 'h', "bin/tool", 04755, 1000, 1001, 222},
                         {"deep/implied/file", 'f', "x", 0600},
                         {"fifo", 'p', "", 0640}});
  auto s = Extract("t.tar");
  ASSERT_TRUE(s.ok()) << s.status();
  struct stat st;
  ASSERT_EQ(::lstat(Dst("bin/tool").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 04755u) << "setuid kept (set after chown)";
  EXPECT_EQ(st.st_uid, 1000u);
  EXPECT_EQ(st.st_gid, 1001u);
  EXPECT_EQ(st.st_mtim.tv_sec, 222);
  ASSERT_EQ(::lstat(Dst("bin").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0750u);
  EXPECT_EQ(st.st_mtim.tv_sec, 111) << "directory mtimes are set after their contents";
  char buf[64] = {};
  ASSERT_GT(::readlink(Dst("bin/alias").c_str(), buf, sizeof buf - 1), 0);
  EXPECT_STREQ(buf, "tool");
  struct stat a, b;
  ASSERT_EQ(::stat(Dst("bin/tool").c_str(), &a), 0);
  ASSERT_EQ(::stat(Dst("bin/again").c_str(), &b), 0);
  EXPECT_EQ(a.st_ino, b.st_ino) << "hardlinks stay hardlinks";
  ASSERT_EQ(::lstat(Dst("deep/implied").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0755u) << "implied parents are 0755";
  EXPECT_EQ(st.st_uid, 0u);
  ASSERT_EQ(::lstat(Dst("fifo").c_str(), &st), 0);
  EXPECT_TRUE(S_ISFIFO(st.st_mode));
}

TEST_F(ArchiveTest, ChownOverridesEveryEntryButNotImpliedParents) {
  MakeTar(Src("t.tar"), {{"d", 'd', "", 0755, 5, 5}, {"d/f", 'f', "x", 0644, 5, 5},
                         {"d/l", 'l', "f", 0777, 5, 5}, {"implied/g", 'f', "y", 0644, 7, 7}});
  ASSERT_TRUE(Extract("t.tar", ExtractOptions{1234, 4321}).ok());
  for (const char* p : {"d", "d/f", "d/l", "implied/g"}) {
    struct stat st;
    ASSERT_EQ(::lstat(Dst(p).c_str(), &st), 0) << p;
    EXPECT_EQ(st.st_uid, 1234u) << p;
    EXPECT_EQ(st.st_gid, 4321u) << p;
  }
  struct stat st;
  ASSERT_EQ(::lstat(Dst("implied").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 0u) << "BuildKit leaves implied parents to root";
}

TEST_F(ArchiveTest, ExistingDirectoriesMergeOtherEntriesAreReplaced) {
  Mkdir(Dst("keep"));
  Write(Dst("keep/old.txt"), "old");
  Write(Dst("was-file"), "file");
  Mkdir(Dst("was-dir"));
  Write(Dst("was-dir/inner"), "inner");
  MakeTar(Src("t.tar"), {{"keep", 'd', "", 0700},
                         {"keep/new.txt", 'f', "new"},
                         {"was-file", 'd', "", 0755},
                         {"was-dir", 'f', "now a file"}});
  ASSERT_TRUE(Extract("t.tar").ok());
  EXPECT_EQ(ReadFile(Dst("keep/old.txt")), "old");
  EXPECT_EQ(ReadFile(Dst("keep/new.txt")), "new");
  struct stat st;
  ASSERT_EQ(::stat(Dst("keep").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0700u) << "a merged directory takes the entry's mode";
  ASSERT_EQ(::stat(Dst("was-file").c_str(), &st), 0);
  EXPECT_TRUE(S_ISDIR(st.st_mode));
  EXPECT_EQ(ReadFile(Dst("was-dir")), "now a file");
}

TEST_F(ArchiveTest, AbsolutePathsLandInsideTheRoot) {
  MakeTar(Src("t.tar"), {{Host("pwned"), 'f', "abs"}, {"/top", 'f', "top"}, {"./", 'd'}});
  ASSERT_TRUE(Extract("t.tar").ok());
  EXPECT_EQ(ReadFile(Dst(Host("pwned").substr(1))), "abs");
  EXPECT_EQ(ReadFile(Dst("top")), "top");
  ExpectHostUntouched();
}

TEST_F(ArchiveTest, DotDotTraversalIsRejected) {
  for (const char* p : {"../host/pwned", "a/../../host/pwned", "../../../../../../../tmp/pwned"}) {
    SCOPED_TRACE(p);
    MakeTar(Src("t.tar"), {{"ok", 'f', "fine"}, {p, 'f', "evil"}});
    auto s = Extract("t.tar");
    EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument) << s.status();
    EXPECT_NE(s.status().message().find("outside the extraction root"), std::string::npos);
  }
  ExpectHostUntouched();
}

TEST_F(ArchiveTest, AbsoluteSymlinkThenWriteThroughStaysInside) {
  // The classic escape: a symlink to a host directory, then a file "through" it.
  MakeTar(Src("t.tar"), {{"evil", 'l', Host("")}, {"evil/pwned", 'f', "through"},
                         {"root", 'l', "/"}, {"root/escaped", 'f', "via /"}});
  ASSERT_TRUE(Extract("t.tar").ok());
  EXPECT_EQ(ReadFile(Dst(Host("pwned").substr(1))), "through") << "re-rooted at the dest";
  EXPECT_EQ(ReadFile(Dst("escaped")), "via /");
  ExpectHostUntouched();
}

TEST_F(ArchiveTest, RelativeSymlinkOutOfTheRootIsRejected) {
  MakeTar(Src("t.tar"), {{"up", 'l', "../host"}, {"up/pwned", 'f', "evil"}});
  auto s = Extract("t.tar");
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument) << s.status();
  EXPECT_NE(s.status().message().find("points outside the extraction root"), std::string::npos);
  MakeTar(Src("t2.tar"), {{"a/b", 'l', "../../.."}, {"a/b/host/pwned", 'f', "evil"}});
  EXPECT_FALSE(Extract("t2.tar").ok());
  ExpectHostUntouched();
}

TEST_F(ArchiveTest, FinalSymlinkIsReplacedNotFollowed) {
  // An entry named like an existing symlink replaces the link, it never writes through it.
  ASSERT_EQ(::symlink(Host("target").c_str(), Dst("link").c_str()), 0);
  MakeTar(Src("t.tar"), {{"link", 'f', "replaced"}, {"rel", 'l', "../host/target"},
                         {"rel", 'f', "also replaced"}});
  ASSERT_TRUE(Extract("t.tar").ok());
  struct stat st;
  ASSERT_EQ(::lstat(Dst("link").c_str(), &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode));
  EXPECT_EQ(ReadFile(Dst("rel")), "also replaced");
  ExpectHostUntouched();
}

TEST_F(ArchiveTest, HardlinksNeverReachOutside) {
  MakeTar(Src("abs.tar"), {{"hl", 'h', Host("target")}});
  auto s = Extract("abs.tar");
  EXPECT_EQ(s.status().code(), absl::StatusCode::kNotFound) << s.status();
  MakeTar(Src("rel.tar"), {{"hl", 'h', "../host/target"}});
  EXPECT_EQ(Extract("rel.tar").status().code(), absl::StatusCode::kInvalidArgument);
  MakeTar(Src("via.tar"), {{"up", 'l', "../host"}, {"hl", 'h', "up/target"}});
  EXPECT_EQ(Extract("via.tar").status().code(), absl::StatusCode::kInvalidArgument);
  MakeTar(Src("root.tar"), {{"hl", 'h', "./"}});
  EXPECT_EQ(Extract("root.tar").status().code(), absl::StatusCode::kInvalidArgument);
  // Nothing in the dest shares the host file's inode.
  struct stat host, st;
  ASSERT_EQ(::stat(Host("target").c_str(), &host), 0);
  EXPECT_EQ(host.st_nlink, 1u);
  if (::lstat(Dst("hl").c_str(), &st) == 0) {
    EXPECT_NE(st.st_ino, host.st_ino);
  }
  ExpectHostUntouched();
}

TEST_F(ArchiveTest, DeviceNodesAreRejected) {
  MakeTar(Src("t.tar"), {{"null", 'c', "", 0666}});
  auto s = Extract("t.tar");
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument) << s.status();
}

TEST_F(ArchiveTest, TruncatedArchiveIsDataLoss) {
  MakeTar(Src("t.tar"), {{"a", 'f', std::string(10000, 'a')}, {"b", 'f', "b"}});
  ASSERT_EQ(::truncate(Src("t.tar").c_str(), 4096), 0);
  auto s = Extract("t.tar");
  EXPECT_EQ(s.status().code(), absl::StatusCode::kDataLoss) << s.status();
}

TEST_F(ArchiveTest, CopyFilesUnpacksArchivesAndCopiesTheRest) {
  MakeTar(Src("a.tar.gz"), {{"from-a", 'f', "A"}}, "gzip");
  MakeTar(Src("b.bin"), {{"from-b", 'f', "B"}}, "xz");
  Write(Src("c.tar"), "not a tar");
  ASSERT_EQ(::symlink("a.tar.gz", Src("link.tgz").c_str()), 0);
  CopyOptions o;
  o.sources = {"a.tar.gz", "b.bin", "c.tar"};
  o.dest = "/out/";
  o.auto_extract = true;
  auto s = CopyFiles(src_fd_.get(), dst_fd_.get(), o);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->archives, 2);
  EXPECT_EQ(ReadFile(Dst("out/from-a")), "A");
  EXPECT_EQ(ReadFile(Dst("out/from-b")), "B");
  EXPECT_EQ(ReadFile(Dst("out/c.tar")), "not a tar") << "a non-archive is copied as a file";
  EXPECT_FALSE(Exists(Dst("out/a.tar.gz")));
  // No trailing slash: the archive still unpacks into that directory (created, --chown'd).
  o.sources = {"link.tgz"};  // a top-level symlink is followed
  o.dest = "/single";
  o.uid = 77;
  o.gid = 78;
  ASSERT_TRUE(CopyFiles(src_fd_.get(), dst_fd_.get(), o).ok());
  struct stat st;
  ASSERT_EQ(::stat(Dst("single").c_str(), &st), 0);
  EXPECT_TRUE(S_ISDIR(st.st_mode));
  EXPECT_EQ(st.st_uid, 77u);
  ASSERT_EQ(::stat(Dst("single/from-a").c_str(), &st), 0);
  EXPECT_EQ(st.st_gid, 78u);
  // Without auto_extract (COPY) the archive is a file.
  o.auto_extract = false;
  o.sources = {"a.tar.gz"};
  o.dest = "/copied/";
  ASSERT_TRUE(CopyFiles(src_fd_.get(), dst_fd_.get(), o).ok());
  EXPECT_TRUE(Exists(Dst("copied/a.tar.gz")));
}

}  // namespace
}  // namespace kiln::engine
