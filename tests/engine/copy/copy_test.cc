#include "engine/copy/copy.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tests/engine/copy/copy_fixture.h"

namespace kiln::engine {
namespace {

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

namespace kiln::engine {
namespace {

// Issue 19 defect 4 at the copy level: a directory the filter excludes but cannot skip (an
// exception may bring back something below) is created only on the way to what comes back,
// with its own mode; HashSources hashes exactly those entries.
TEST_F(CopyTest, ExcludedDirectoriesAreCreatedOnlyOnTheWayToAnException) {
  Mkdir(Src("e"));
  Mkdir(Src("e/a"));
  Mkdir(Src("e/b"));
  Mkdir(Src("e/c"));
  Mkdir(Src("e/c/deeper"));
  Write(Src("e/a/keep"), "k");
  Write(Src("e/a/other"), "o");
  Write(Src("f.txt"), "f");
  ASSERT_EQ(::chmod(Src("e").c_str(), 0750), 0);
  // Like ".dockerignore": "e" then "!e/*/keep": filter(rel, false) says whether `rel` is
  // excluded, filter(dir, true) whether its subtree can be skipped (not e nor e/<x>).
  auto depth = [](std::string_view rel) { return std::count(rel.begin(), rel.end(), '/'); };
  auto excluded = [&](std::string_view rel) {
    if (rel != "e" && !rel.starts_with("e/")) return false;
    return !(depth(rel) >= 2 && rel.substr(rel.find('/', 2)).starts_with("/keep"));
  };
  CopyOptions o;
  o.sources = {"."};
  o.dest = "/o/";
  o.exclude = [&](std::string_view rel, bool is_dir) {
    return excluded(rel) && (!is_dir || depth(rel) >= 2);
  };
  ASSERT_TRUE(CopyFiles(src_fd_.get(), dst_fd_.get(), o).ok());
  EXPECT_TRUE(Exists(Dst("o/f.txt")));
  EXPECT_TRUE(Exists(Dst("o/e/a/keep")));
  EXPECT_FALSE(Exists(Dst("o/e/a/other")));
  EXPECT_FALSE(Exists(Dst("o/e/b"))) << "an excluded empty dir";
  EXPECT_FALSE(Exists(Dst("o/e/c"))) << "an excluded dir with nothing brought back";
  struct stat st;
  ASSERT_EQ(::stat(Dst("o/e").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0750u);
  std::vector<std::string> hashed;
  ASSERT_TRUE(HashSources(src_fd_.get(), o, nullptr, &hashed).ok());
  EXPECT_EQ(hashed, (std::vector<std::string>{"e", "e/a", "e/a/keep", "f.txt"}));
}

TEST_F(CopyTest, TopLevelSymlinkSourceIsFollowedNestedOnesAreNot) {
  Write(Src("real.txt"), "real");
  ASSERT_EQ(::symlink("real.txt", Src("link").c_str()), 0);
  Mkdir(Src("d"));
  ASSERT_EQ(::symlink("../real.txt", Src("d/inner").c_str()), 0);
  ASSERT_TRUE(Copy({"link"}, "/out/").ok());
  struct stat st;
  ASSERT_EQ(::lstat(Dst("out/link").c_str(), &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode)) << "the named source is followed, keeping its own name";
  EXPECT_EQ(ReadFile(Dst("out/link")), "real");
  ASSERT_TRUE(Copy({"l*"}, "/wild/").ok());
  ASSERT_EQ(::lstat(Dst("wild/link").c_str(), &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode)) << "also when matched by a wildcard";
  ASSERT_TRUE(Copy({"d"}, "/d/").ok());
  ASSERT_EQ(::lstat(Dst("d/inner").c_str(), &st), 0);
  EXPECT_TRUE(S_ISLNK(st.st_mode)) << "symlinks inside a copied tree stay symlinks";
}

TEST_F(CopyTest, ExcludeInSourceSeesPathsRelativeToEachSource) {
  for (const char* d : {"dir1", "dir3"}) Mkdir(Src(d));
  Write(Src("dir1/x.png"), "png");
  Write(Src("dir1/y.txt"), "txt");
  Write(Src("dir3/a.mp3"), "mp3");
  Write(Src("dir3/b.mpeg"), "mpeg");
  std::vector<std::string> seen;
  CopyOptions o;
  o.sources = {"dir*"};
  o.dest = "/all/";
  o.exclude_in_source = [&](std::string_view rel, bool) {
    seen.emplace_back(rel);
    return rel.ends_with(".png") || rel.ends_with(".mp3");
  };
  ASSERT_TRUE(CopyFiles(src_fd_.get(), dst_fd_.get(), o).ok());
  EXPECT_FALSE(Exists(Dst("all/x.png")));
  EXPECT_FALSE(Exists(Dst("all/a.mp3")));
  EXPECT_EQ(ReadFile(Dst("all/y.txt")), "txt");
  EXPECT_EQ(ReadFile(Dst("all/b.mpeg")), "mpeg");
  for (const std::string& s : seen) EXPECT_EQ(s.find("dir"), std::string::npos) << s;
  // The named source itself is never tested.
  o.sources = {"dir1/x.png"};
  o.dest = "/one/";
  ASSERT_TRUE(CopyFiles(src_fd_.get(), dst_fd_.get(), o).ok());
  EXPECT_TRUE(Exists(Dst("one/x.png")));
  // HashSources follows the same rule.
  o.sources = {"dir3"};
  auto h1 = HashSources(src_fd_.get(), o);
  Write(Src("dir3/a.mp3"), "other mp3");
  EXPECT_EQ(*HashSources(src_fd_.get(), o), *h1);
}

TEST_F(CopyTest, IncludeCopiesSelectedEntriesWithTheirParents) {
  Mkdir(Src("a"));
  Mkdir(Src("a/b"));
  Mkdir(Src("a/empty"));
  Write(Src("a/b/c.txt"), "c");
  Write(Src("a/b/d.go"), "d");
  Write(Src("a/e.txt"), "e");
  Write(Src("f.txt"), "f");
  ASSERT_EQ(::chmod(Src("a").c_str(), 0750), 0);
  CopyOptions o;
  o.sources = {""};
  o.dest = "/out";
  o.include = CopyInclude{[](std::string_view rel) { return rel == "a/b/c.txt"; },
                          [](std::string_view rel) { return rel == "a" || rel == "a/b"; }};
  auto s = CopyFiles(src_fd_.get(), dst_fd_.get(), o);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(ReadFile(Dst("out/a/b/c.txt")), "c");
  EXPECT_FALSE(Exists(Dst("out/a/b/d.go")));
  EXPECT_FALSE(Exists(Dst("out/a/e.txt")));
  EXPECT_FALSE(Exists(Dst("out/a/empty")));
  EXPECT_FALSE(Exists(Dst("out/f.txt")));
  struct stat st;
  ASSERT_EQ(::stat(Dst("out/a").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0750u) << "parents take the source directories' metadata";
  // A selected directory brings everything below it.
  o.dest = "/dir/";
  o.include = CopyInclude{[](std::string_view rel) { return rel == "a/b" || rel.starts_with("a/b/"); },
                          [](std::string_view rel) { return rel == "a"; }};
  ASSERT_TRUE(CopyFiles(src_fd_.get(), dst_fd_.get(), o).ok());
  EXPECT_TRUE(Exists(Dst("dir/a/b/c.txt")));
  EXPECT_TRUE(Exists(Dst("dir/a/b/d.go")));
  EXPECT_FALSE(Exists(Dst("dir/a/e.txt")));
  // Nothing selected: no directory is created below the destination.
  o.dest = "/none/";
  o.include = CopyInclude{[](std::string_view) { return false; },
                          [](std::string_view) { return true; }};
  ASSERT_TRUE(CopyFiles(src_fd_.get(), dst_fd_.get(), o).ok());
  EXPECT_FALSE(Exists(Dst("none/a")));
}

TEST_F(CopyTest, SymbolicChmodAppliesToFilesAndDirectories) {
  Mkdir(Src("t"));
  Mkdir(Src("t/sub"));
  Write(Src("t/plain"), "p", 0664);
  Write(Src("t/tool"), "x", 0764);
  ASSERT_EQ(::chmod(Src("t/sub").c_str(), 0700), 0);
  ASSERT_EQ(::symlink("plain", Src("t/link").c_str()), 0);
  auto spec = ChmodSpec::Parse("a+X,g-w");
  ASSERT_TRUE(spec.ok());
  CopyOptions o;
  o.sources = {"t"};
  o.dest = "/t/";
  o.chmod = *spec;
  ASSERT_TRUE(CopyFiles(src_fd_.get(), dst_fd_.get(), o).ok());
  struct stat st;
  ASSERT_EQ(::stat(Dst("t/plain").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0644u);
  ASSERT_EQ(::stat(Dst("t/tool").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0755u);
  ASSERT_EQ(::stat(Dst("t/sub").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0711u);
  ASSERT_EQ(::lstat(Dst("t/link").c_str(), &st), 0);
  EXPECT_TRUE(S_ISLNK(st.st_mode));
}

}  // namespace
}  // namespace kiln::engine
