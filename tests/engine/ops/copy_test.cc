#include "engine/ops/copy.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "base/temp_dir.h"
#include "base/unique_fd.h"

namespace kiln::engine {
namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool Exists(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}

class CopyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto d = base::TempDir::Create("kiln-copy-test-");
    ASSERT_TRUE(d.ok());
    dir_ = std::move(*d);
    ASSERT_EQ(::mkdir(Src("").c_str(), 0755), 0);
    ASSERT_EQ(::mkdir(Dst("").c_str(), 0755), 0);
    ASSERT_EQ(::mkdir(Host("").c_str(), 0755), 0);
    src_fd_.reset(::open(Src("").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    dst_fd_.reset(::open(Dst("").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  }
  std::string Src(const std::string& rel) { return dir_.path() + "/src/" + rel; }
  std::string Dst(const std::string& rel) { return dir_.path() + "/dst/" + rel; }
  // A directory outside both roots that nothing may touch.
  std::string Host(const std::string& rel) { return dir_.path() + "/host/" + rel; }
  void Write(const std::string& path, const std::string& content, mode_t mode = 0644) {
    std::ofstream(path) << content;
    ::chmod(path.c_str(), mode);
  }
  void Mkdir(const std::string& path) { ASSERT_EQ(::mkdir(path.c_str(), 0755), 0) << path; }

  absl::StatusOr<CopyStats> Copy(std::vector<std::string> sources, std::string dest) {
    CopyOptions o;
    o.sources = std::move(sources);
    o.dest = std::move(dest);
    return CopyFiles(src_fd_.get(), dst_fd_.get(), o);
  }

  base::TempDir dir_;
  base::UniqueFd src_fd_, dst_fd_;
};

TEST_F(CopyTest, DirectorySourceCopiesItsContents) {
  Mkdir(Src("app"));
  Mkdir(Src("app/sub"));
  Write(Src("app/a.txt"), "a");
  Write(Src("app/sub/b.txt"), "b");
  auto s = Copy({"app"}, "/opt/");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(ReadFile(Dst("opt/a.txt")), "a");
  EXPECT_EQ(ReadFile(Dst("opt/sub/b.txt")), "b");
  EXPECT_FALSE(Exists(Dst("opt/app")));
  EXPECT_EQ(s->files, 2);
}

TEST_F(CopyTest, FileDestinationRules) {
  Write(Src("welcome.go"), "package main");
  ASSERT_TRUE(Copy({"welcome.go"}, "/myapp/").ok());
  EXPECT_EQ(ReadFile(Dst("myapp/welcome.go")), "package main");
  ASSERT_TRUE(Copy({"welcome.go"}, "/renamed.go").ok());
  EXPECT_EQ(ReadFile(Dst("renamed.go")), "package main");
  // An existing directory without a trailing slash is still a directory destination.
  ASSERT_TRUE(Copy({"welcome.go"}, "/myapp").ok());
  EXPECT_EQ(ReadFile(Dst("myapp/welcome.go")), "package main");
  // "." relative to the root.
  ASSERT_TRUE(Copy({"welcome.go"}, "/").ok());
  EXPECT_EQ(ReadFile(Dst("welcome.go")), "package main");
}

TEST_F(CopyTest, SeveralSourcesNeedADirectoryDestination) {
  Write(Src("a"), "1");
  Write(Src("b"), "2");
  auto bad = Copy({"a", "b"}, "/out");
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("must be a directory"), absl::string_view::npos);
  ASSERT_TRUE(Copy({"a", "b"}, "/out/").ok());
  EXPECT_EQ(ReadFile(Dst("out/a")), "1");
  EXPECT_EQ(ReadFile(Dst("out/b")), "2");
}

TEST_F(CopyTest, WildcardsMatchAndMissingSourcesFail) {
  Write(Src("x.go"), "x");
  Write(Src("y.go"), "y");
  Write(Src("z.txt"), "z");
  ASSERT_TRUE(Copy({"*.go"}, "/src/").ok());
  EXPECT_TRUE(Exists(Dst("src/x.go")));
  EXPECT_TRUE(Exists(Dst("src/y.go")));
  EXPECT_FALSE(Exists(Dst("src/z.txt")));
  EXPECT_EQ(Copy({"*.rs"}, "/src/").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(Copy({"missing"}, "/src/").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(CopyTest, SymlinksInsideTreesAreCopiedNotFollowed) {
  Mkdir(Src("d"));
  ASSERT_EQ(::symlink("/etc/passwd", Src("d/link").c_str()), 0);
  ASSERT_TRUE(Copy({"d"}, "/d/").ok());
  char buf[64] = {};
  ASSERT_GT(::readlink(Dst("d/link").c_str(), buf, sizeof buf - 1), 0);
  EXPECT_STREQ(buf, "/etc/passwd");
}

TEST_F(CopyTest, SourceSymlinksNeverLeaveTheSourceRoot) {
  Write(Host("secret"), "host secret");
  ASSERT_EQ(::symlink(Host("").c_str(), Src("abs").c_str()), 0);
  ASSERT_EQ(::symlink("../../../../../../host", Src("rel").c_str()), 0);
  EXPECT_FALSE(Copy({"abs/secret"}, "/x").ok());
  EXPECT_FALSE(Copy({"rel/secret"}, "/y").ok());
  EXPECT_FALSE(Copy({"../host/secret"}, "/z").ok());
  EXPECT_FALSE(Exists(Dst("x")));
  EXPECT_FALSE(Exists(Dst("y")));
  EXPECT_FALSE(Exists(Dst("z")));
}

TEST_F(CopyTest, DestinationSymlinksNeverLeaveTheDestinationRoot) {
  Write(Src("f"), "payload");
  // /out in the destination points at a host path; the copy must land inside the root.
  ASSERT_EQ(::symlink(Host("").c_str(), Dst("out").c_str()), 0);
  ASSERT_EQ(::symlink("../../../../../..", Dst("up").c_str()), 0);
  ASSERT_TRUE(Copy({"f"}, "/out/").ok());
  ASSERT_TRUE(Copy({"f"}, "/up/escaped").ok());
  EXPECT_FALSE(Exists(Host("f")));
  EXPECT_FALSE(Exists(dir_.path() + "/escaped"));
  EXPECT_EQ(ReadFile(Dst("escaped")), "payload");
  // The absolute link resolved inside the root: <dst>/<host path>/f.
  EXPECT_EQ(ReadFile(Dst(Host("f").substr(1))), "payload");
}

TEST_F(CopyTest, OwnershipAndModes) {
  Write(Src("f"), "x", 0640);
  ASSERT_EQ(::chown(Src("f").c_str(), 1000, 1000), 0);
  ASSERT_TRUE(Copy({"f"}, "/default").ok());
  struct stat st;
  ASSERT_EQ(::stat(Dst("default").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 0u);
  EXPECT_EQ(st.st_gid, 0u);
  EXPECT_EQ(st.st_mode & 07777, 0640u);

  CopyOptions o;
  o.sources = {"f"};
  o.dest = "/chowned/";
  o.uid = 65534;
  o.gid = 65534;
  o.mode = 0755;
  ASSERT_TRUE(CopyFiles(src_fd_.get(), dst_fd_.get(), o).ok());
  ASSERT_EQ(::stat(Dst("chowned/f").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 65534u);
  EXPECT_EQ(st.st_mode & 07777, 0755u);
  ASSERT_EQ(::stat(Dst("chowned").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 65534u) << "created destination dirs take --chown";

  o.uid.reset();
  o.gid.reset();
  o.mode.reset();
  o.preserve_owner = true;
  o.dest = "/kept";
  ASSERT_TRUE(CopyFiles(src_fd_.get(), dst_fd_.get(), o).ok());
  ASSERT_EQ(::stat(Dst("kept").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 1000u);
}

TEST_F(CopyTest, ExcludePredicateFiltersFilesAndSubtrees) {
  Mkdir(Src("ctx"));
  Mkdir(Src("ctx/node_modules"));
  Write(Src("ctx/node_modules/big"), "x");
  Write(Src("ctx/main.go"), "m");
  Write(Src("ctx/notes.md"), "n");
  CopyOptions o;
  o.sources = {"ctx"};
  o.dest = "/app/";
  o.exclude = [](std::string_view rel, bool) {
    return rel == "ctx/node_modules" || rel.ends_with(".md");
  };
  ASSERT_TRUE(CopyFiles(src_fd_.get(), dst_fd_.get(), o).ok());
  EXPECT_TRUE(Exists(Dst("app/main.go")));
  EXPECT_FALSE(Exists(Dst("app/notes.md")));
  EXPECT_FALSE(Exists(Dst("app/node_modules")));
}

TEST_F(CopyTest, HardlinksArePreservedWithinOneCopy) {
  Mkdir(Src("h"));
  Write(Src("h/one"), "same");
  ASSERT_EQ(::link(Src("h/one").c_str(), Src("h/two").c_str()), 0);
  ASSERT_TRUE(Copy({"h"}, "/h/").ok());
  struct stat a, b;
  ASSERT_EQ(::stat(Dst("h/one").c_str(), &a), 0);
  ASSERT_EQ(::stat(Dst("h/two").c_str(), &b), 0);
  EXPECT_EQ(a.st_ino, b.st_ino);
}

TEST_F(CopyTest, MakeDirsStaysInsideTheRoot) {
  ASSERT_EQ(::symlink(Host("").c_str(), Dst("w").c_str()), 0);
  ASSERT_TRUE(MakeDirs(dst_fd_.get(), "/w/a/b", 0755).ok());
  EXPECT_FALSE(Exists(Host("a")));
  Write(Dst("file"), "");
  EXPECT_EQ(MakeDirs(dst_fd_.get(), "/file/sub", 0755).code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace kiln::engine

namespace kiln::engine {
namespace {

TEST_F(CopyTest, HashSourcesCoversContentNotMtime) {
  Mkdir(Src("app"));
  Write(Src("app/a.go"), "package a");
  Write(Src("app/README.md"), "docs");
  CopyOptions o;
  o.sources = {"app"};
  o.exclude = [](std::string_view rel, bool) { return rel.ends_with(".md"); };
  auto h1 = HashSources(src_fd_.get(), o);
  ASSERT_TRUE(h1.ok()) << h1.status();
  struct timespec times[2] = {{1, 0}, {1, 0}};
  ASSERT_EQ(::utimensat(AT_FDCWD, Src("app/a.go").c_str(), times, 0), 0);
  EXPECT_EQ(*HashSources(src_fd_.get(), o), *h1) << "mtime must not change the key";
  Write(Src("app/README.md"), "other docs");
  EXPECT_EQ(*HashSources(src_fd_.get(), o), *h1) << "excluded files must not change the key";
  Write(Src("app/a.go"), "package b");
  EXPECT_NE(*HashSources(src_fd_.get(), o), *h1);
  ASSERT_EQ(::chmod(Src("app/a.go").c_str(), 0755), 0);
  auto h2 = HashSources(src_fd_.get(), o);
  Write(Src("app/a.go"), "package b", 0644);
  EXPECT_NE(*HashSources(src_fd_.get(), o), *h2) << "mode is part of the key";
  o.sources = {"missing"};
  EXPECT_EQ(HashSources(src_fd_.get(), o).status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace kiln::engine
