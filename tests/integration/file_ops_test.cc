// COPY / ADD end to end through the real Engine, checked against Docker's (BuildKit's) rules:
// ADD auto-extraction (with hostile archives), COPY --parents, symbolic --chmod, --chown by
// name, --exclude, symlink sources, wildcards, trailing slashes and COPY --link. Results are
// exported with type=local and inspected on disk; ownership and modes are read by `stat` in a
// RUN step, so the check does not depend on how the exporter writes owners.
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "base/temp_dir.h"
#include "tests/engine/copy/tar_maker.h"
#include "tests/integration/engine_fixture.h"

namespace kiln::testing {
namespace {

using engine::testing::MakeTar;
using engine::testing::TarSpec;

class FileOpsTest : public EngineTest {
 protected:
  void SetUp() override {
    auto d = base::TempDir::Create("kiln-fileops-");
    ASSERT_TRUE(d.ok()) << d.status();
    dir_ = std::make_unique<base::TempDir>(std::move(*d));
    ASSERT_EQ(::mkdir(Ctx("").c_str(), 0755), 0);
    ASSERT_EQ(::mkdir(Host("").c_str(), 0755), 0);
    WriteFile(Host("target"), "host target");
  }
  std::string Ctx(const std::string& rel) { return dir_->path() + "/ctx/" + rel; }
  std::string Out(const std::string& rel) { return dir_->path() + "/out/" + rel; }
  // Outside every root the build may write to.
  std::string Host(const std::string& rel) { return dir_->path() + "/host/" + rel; }
  void Mkdir(const std::string& p) { ASSERT_EQ(::mkdir(p.c_str(), 0755), 0) << p; }

  // Builds Ctx("") with `dockerfile`, exporting type=local to Out("").
  absl::StatusOr<engine::BuildResult> Build(const std::string& dockerfile) {
    WriteFile(Ctx("Dockerfile"), dockerfile);
    std::string cmd = "rm -rf '" + Out("") + "'";
    EXPECT_EQ(std::system(cmd.c_str()), 0);
    auto req = Request(Ctx(""));
    req.exports = {engine::LocalOutput{Out("")}};
    return engine_->Build(req, nullptr, nullptr);
  }
  void ExpectHostUntouched() {
    EXPECT_EQ(ReadFile(Host("target")), "host target");
    std::string cmd = "test $(ls -A '" + Host("") + "' | wc -l) -eq 1";
    EXPECT_EQ(std::system(cmd.c_str()), 0) << "something was written in " << Host("");
  }
  static bool IsLink(const std::string& p) {
    struct stat st;
    return ::lstat(p.c_str(), &st) == 0 && S_ISLNK(st.st_mode);
  }

  std::unique_ptr<base::TempDir> dir_;
};

TEST_F(FileOpsTest, AddUnpacksLocalArchivesDetectedByContent) {
  MakeTar(Ctx("app.tar.gz"), {{"app", 'd', "", 0755}, {"app/main.sh", 'f', "echo hi", 0755}},
          "gzip");
  MakeTar(Ctx("data.bin"), {{"from-xz", 'f', "xz"}}, "xz");
  MakeTar(Ctx("b.tbz"), {{"from-bzip2", 'f', "bz"}}, "bzip2");
  MakeTar(Ctx("z.tzst"), {{"from-zstd", 'f', "zs"}}, "zstd");
  WriteFile(Ctx("notatar.tar"), "plain text with a tar name");
  auto r = Build(
      "FROM scratch\n"
      "ADD app.tar.gz /opt\n"
      "ADD data.bin b.tbz z.tzst notatar.tar /data/\n"
      "COPY app.tar.gz /copied/\n");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(ReadFile(Out("opt/app/main.sh")), "echo hi") << "unpacked into the destination dir";
  EXPECT_EQ(ReadFile(Out("data/from-xz")), "xz");
  EXPECT_EQ(ReadFile(Out("data/from-bzip2")), "bz");
  EXPECT_EQ(ReadFile(Out("data/from-zstd")), "zs");
  EXPECT_EQ(ReadFile(Out("data/notatar.tar")), "plain text with a tar name");
  EXPECT_FALSE(Exists(Out("data/data.bin")));
  EXPECT_TRUE(Exists(Out("copied/app.tar.gz"))) << "COPY never unpacks";
}

TEST_F(FileOpsTest, AddRebuildsWhenTheArchiveContentChanges) {
  MakeTar(Ctx("a.tar"), {{"v", 'f', "one"}});
  const std::string df = "FROM scratch\nADD a.tar /x/\n";
  ASSERT_TRUE(Build(df).ok());
  EXPECT_EQ(ReadFile(Out("x/v")), "one");
  MakeTar(Ctx("a.tar"), {{"v", 'f', "two"}});
  auto r = Build(df);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(ReadFile(Out("x/v")), "two") << "the cache key covers the archive's bytes";
}

TEST_F(FileOpsTest, HostileArchivesNeverWriteOutsideTheRootfs) {
  // Absolute symlink then write-through: re-rooted inside the image.
  MakeTar(Ctx("symlink.tar"), {{"evil", 'l', Host("")}, {"evil/pwned", 'f', "through"}});
  auto r = Build("FROM scratch\nADD symlink.tar /x/\n");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(ReadFile(Out("x/" + Host("pwned").substr(1))), "through");
  ExpectHostUntouched();

  MakeTar(Ctx("dotdot.tar"), {{"../../../../../../../../.." + Host("pwned"), 'f', "evil"}});
  r = Build("FROM scratch\nADD dotdot.tar /x/\n");
  EXPECT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("outside the extraction root"), std::string::npos)
      << r.status();
  ExpectHostUntouched();

  MakeTar(Ctx("hardlink.tar"), {{"hl", 'h', Host("target")}});
  r = Build("FROM scratch\nADD hardlink.tar /x/\n");
  EXPECT_FALSE(r.ok()) << "a hardlink target resolves inside the root, where it is missing";
  MakeTar(Ctx("relup.tar"), {{"up", 'l', "../../../../../../.."}, {"up/" + Host("pwned"), 'f', "x"}});
  r = Build("FROM scratch\nADD relup.tar /x/\n");
  EXPECT_FALSE(r.ok());
  ExpectHostUntouched();
  struct stat st;
  ASSERT_EQ(::stat(Host("target").c_str(), &st), 0);
  EXPECT_EQ(st.st_nlink, 1u);
}

TEST_F(FileOpsTest, ChownByNameAndSymbolicChmod) {
  MakeTar(Ctx("t.tar"), {{"d", 'd', "", 0755, 7, 7}, {"d/f", 'f', "x", 0644, 7, 7}});
  WriteFile(Ctx("tool"), "#!/bin/sh\n");
  ASSERT_EQ(::chmod(Ctx("tool").c_str(), 0600), 0);
  Mkdir(Ctx("tree"));
  WriteFile(Ctx("tree/plain"), "p");
  ASSERT_EQ(::chmod(Ctx("tree/plain").c_str(), 0664), 0);
  auto r = Build(
      "FROM busybox:1.35\n"
      "RUN echo 'app:x:1234:2345::/:/bin/sh' >> /etc/passwd && echo 'appgrp:x:2345:' >> /etc/group\n"
      "COPY --chown=app:appgrp tool /c/tool\n"
      "COPY --chown=app tree /c/tree/\n"
      "ADD --chown=app:appgrp t.tar /c/x/\n"
      "COPY --chmod=u=rwx,go=rx tool /m/tool\n"
      "COPY --chmod=a+X,g-w tree /m/tree/\n"
      "RUN cd / && for p in c/tool c/tree/plain c/x c/x/d c/x/d/f m/tool m/tree/plain; do "
      "stat -c \"$p %u:%g %a\" $p; done > /report\n");
  ASSERT_TRUE(r.ok()) << r.status();
  std::string report = ReadFile(Out("report"));
  for (const char* want : {"c/tool 1234:2345 600", "c/tree/plain 1234:2345 664",
                           "c/x 1234:2345 755", "c/x/d 1234:2345 755", "c/x/d/f 1234:2345 644",
                           "m/tool 0:0 755", "m/tree/plain 0:0 644"}) {
    EXPECT_NE(report.find(want), std::string::npos) << want << "\n" << report;
  }
}

TEST_F(FileOpsTest, CopyParentsKeepsPathsBelowThePivot) {
  for (const char* d : {"src", "src/a", "src/b"}) Mkdir(Ctx(d));
  WriteFile(Ctx("src/a/x.go"), "x");
  WriteFile(Ctx("src/a/y.txt"), "y");
  WriteFile(Ctx("src/b/z.go"), "z");
  WriteFile(Ctx("top.go"), "t");
  auto r = Build(
      "FROM scratch\n"
      "COPY --parents src/*/x.go /p1/\n"
      "COPY --parents ./src/./a/y.txt /p2/\n"
      "COPY --parents src/b top.go /p3/\n");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(ReadFile(Out("p1/src/a/x.go")), "x");
  EXPECT_FALSE(Exists(Out("p1/src/a/y.txt")));
  EXPECT_FALSE(Exists(Out("p1/src/b"))) << "no parent without a selected entry";
  EXPECT_EQ(ReadFile(Out("p2/a/y.txt")), "y") << "paths are kept below the /./ pivot";
  EXPECT_FALSE(Exists(Out("p2/src")));
  EXPECT_EQ(ReadFile(Out("p3/src/b/z.go")), "z");
  EXPECT_EQ(ReadFile(Out("p3/top.go")), "t");
  EXPECT_FALSE(Build("FROM scratch\nCOPY --parents src/missing.go /p/\n").ok());
}

TEST_F(FileOpsTest, SymlinkSourcesExcludesWildcardsAndSlashes) {
  WriteFile(Ctx("real.txt"), "real");
  ASSERT_EQ(::symlink("real.txt", Ctx("link").c_str()), 0);
  for (const char* d : {"dir1", "dir3", "tree"}) Mkdir(Ctx(d));
  ASSERT_EQ(::symlink("../real.txt", Ctx("tree/inner").c_str()), 0);
  WriteFile(Ctx("dir1/x.png"), "png");
  WriteFile(Ctx("dir1/y.txt"), "txt");
  WriteFile(Ctx("dir3/a.mp3"), "mp3");
  WriteFile(Ctx("dir3/b.mpeg"), "mpeg");
  auto r = Build(
      "FROM scratch\n"
      "COPY link /s/\n"
      "COPY tree /t/\n"
      "COPY --exclude=*.mp3 dir3/ /3/\n"
      "COPY --exclude=*.png --exclude=*.mp3 dir* /4/\n"
      "COPY *.nomatch /none/\n"
      "COPY real.txt /file\n"
      "COPY real.txt /dir/\n"
      "COPY real.txt /a/b/c/\n");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(ReadFile(Out("s/link")), "real") << "the named source is followed";
  EXPECT_FALSE(IsLink(Out("s/link")));
  EXPECT_TRUE(IsLink(Out("t/inner"))) << "symlinks inside a copied tree are copied as links";
  EXPECT_FALSE(Exists(Out("3/a.mp3")));
  EXPECT_EQ(ReadFile(Out("3/b.mpeg")), "mpeg");
  EXPECT_FALSE(Exists(Out("4/x.png")));
  EXPECT_FALSE(Exists(Out("4/a.mp3")));
  EXPECT_EQ(ReadFile(Out("4/y.txt")), "txt");
  EXPECT_EQ(ReadFile(Out("4/b.mpeg")), "mpeg");
  EXPECT_FALSE(Exists(Out("none"))) << "BuildKit: an empty wildcard copies nothing, no error";
  EXPECT_EQ(ReadFile(Out("file")), "real");
  EXPECT_EQ(ReadFile(Out("dir/real.txt")), "real");
  EXPECT_EQ(ReadFile(Out("a/b/c/real.txt")), "real") << "missing destination dirs are created";
  // A missing plain source is an error; several sources need a '/' destination.
  EXPECT_FALSE(Build("FROM scratch\nCOPY missing.txt /x\n").ok());
  EXPECT_FALSE(Build("FROM scratch\nCOPY real.txt link /x\n").ok());
}

TEST_F(FileOpsTest, CopyLinkBuildsTheSameFiles) {
  Mkdir(Ctx("app"));
  WriteFile(Ctx("app/a"), "a");
  WriteFile(Ctx("b"), "b");
  const std::string copy = "FROM scratch\nCOPY app /app/\nCOPY b /app/sub/\n";
  ASSERT_TRUE(Build(copy).ok());
  std::string plain = ReadFile(Out("app/a")) + ReadFile(Out("app/sub/b"));
  auto r = Build("FROM scratch\nCOPY --link app /app/\nCOPY --link b /app/sub/\n");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(ReadFile(Out("app/a")) + ReadFile(Out("app/sub/b")), plain);
  EXPECT_EQ(plain, "ab");
}

}  // namespace
}  // namespace kiln::testing
