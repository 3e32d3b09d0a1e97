// Docker's COPY rules through the whole engine (frontend, OpFactory, FileOp, solver), on the
// in-memory snapshotter's plain trees: no root, no mount, no process.
#include <gtest/gtest.h>
#include <unistd.h>

#include "absl/strings/match.h"
#include "base/userns.h"
#include "tests/engine/suite/engine_harness.h"

namespace kiln::engine::testing {
namespace {

class CopyRulesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto h = EngineHarness::Create();
    ASSERT_TRUE(h.ok()) << h.status();
    h_ = std::move(*h);
    ASSERT_TRUE(h_->WriteContext("a.txt", "alpha\n").ok());
    ASSERT_TRUE(h_->WriteContext("b.txt", "bravo\n").ok());
    ASSERT_TRUE(h_->WriteContext("c.md", "charlie\n").ok());
    ASSERT_TRUE(h_->WriteContext("dir/x", "x\n", 0600).ok());
    ASSERT_TRUE(h_->WriteContext("dir/sub/y", "y\n", 0755).ok());
    ASSERT_TRUE(h_->SymlinkContext("dir/link", "x").ok());
    ASSERT_TRUE(h_->SymlinkContext("alias.txt", "a.txt").ok());
  }

  // The final tree of `dockerfile`; fails the test on a build error.
  TreeMap Tree(const std::string& dockerfile, const std::string& ignore = "") {
    auto o = h_->Build(dockerfile, ignore);
    EXPECT_TRUE(o.ok()) << o.status();
    if (!o.ok()) return {};
    auto t = h_->TreeOf(o->top);
    EXPECT_TRUE(t.ok()) << t.status();
    return t.ok() ? *t : TreeMap{};
  }

  std::unique_ptr<EngineHarness> h_;
};

TEST_F(CopyRulesTest, FileIntoADirectoryOrOntoANewName) {
  TreeMap t = Tree("FROM base\nCOPY a.txt /dst/\nCOPY a.txt /named\nCOPY b.txt /tmp\n");
  ASSERT_TRUE(t.contains("dst/a.txt"));
  EXPECT_EQ(t["dst"].type, 'd');
  EXPECT_EQ(t["dst/a.txt"].data, "alpha\n");
  // No trailing slash and no such path: the file gets that name.
  EXPECT_EQ(t["named"].type, 'f');
  EXPECT_EQ(t["named"].data, "alpha\n");
  // No trailing slash but an existing directory: the file goes inside it.
  EXPECT_EQ(t["tmp"].type, 'd');
  EXPECT_EQ(t["tmp/b.txt"].data, "bravo\n");
}

TEST_F(CopyRulesTest, DirectoryCopiesItsContentsWithModes) {
  TreeMap t = Tree("FROM base\nCOPY dir /out/\n");
  EXPECT_FALSE(t.contains("out/dir")) << "a directory source copies its contents, not itself";
  EXPECT_EQ(t["out/x"].data, "x\n");
  EXPECT_EQ(t["out/x"].mode, 0600u);
  EXPECT_EQ(t["out/sub/y"].mode, 0755u);
  EXPECT_EQ(t["out/sub"].type, 'd');
}

TEST_F(CopyRulesTest, WildcardsSelectAndSeveralSourcesNeedADirectory) {
  TreeMap t = Tree("FROM base\nCOPY *.txt /w/\n");
  EXPECT_TRUE(t.contains("w/a.txt"));
  EXPECT_TRUE(t.contains("w/b.txt"));
  EXPECT_FALSE(t.contains("w/c.md"));
  // A symlink the wildcard matches is followed (a named source is resolved).
  EXPECT_EQ(t["w/alias.txt"].type, 'f');
  EXPECT_EQ(t["w/alias.txt"].data, "alpha\n");

  auto bad = h_->Build("FROM base\nCOPY a.txt b.txt /notadir\n");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument) << bad.status();

  // As BuildKit's Dockerfile frontend: a wildcard that matches nothing copies nothing.
  TreeMap none = Tree("FROM base\nCOPY *.nothing /n/\n");
  for (const auto& [path, node] : none) EXPECT_FALSE(path.starts_with("n/")) << path;
  EXPECT_TRUE(none.contains("etc/passwd"));
}

TEST_F(CopyRulesTest, SymlinksInsideADirectoryStayLinks) {
  TreeMap t = Tree("FROM base\nCOPY dir /d/\nCOPY alias.txt /s/\n");
  EXPECT_EQ(t["d/link"].type, 'l');
  EXPECT_EQ(t["d/link"].data, "x");
  // A named source that is a symlink is followed.
  EXPECT_EQ(t["s/alias.txt"].type, 'f');
  EXPECT_EQ(t["s/alias.txt"].data, "alpha\n");
}

TEST_F(CopyRulesTest, ChownAndChmod) {
  ASSERT_GE(base::MappedUidCount(), static_cast<uint64_t>(kAppUid) + 1)
      << "this suite needs uid " << kAppUid << " mapped: run it as root or as a user with a "
      << "subordinate id range (tools/setup-test-user.sh makes kiln-test so)";
  TreeMap t = Tree(
      "FROM base\n"
      "COPY --chown=app:app --chmod=0640 a.txt /o/\n"
      "COPY --chown=1000 dir /n/\n"
      "COPY --chmod=u+x,go-r b.txt /sym/\n");
  EXPECT_EQ(t["o/a.txt"].uid, kAppUid);
  EXPECT_EQ(t["o/a.txt"].gid, kAppGid);
  EXPECT_EQ(t["o/a.txt"].mode, 0640u);
  EXPECT_EQ(t["n/sub/y"].uid, kAppUid);
  EXPECT_EQ(t["n/sub"].uid, kAppUid);
  EXPECT_EQ(t["sym/b.txt"].mode, 0700u) << "symbolic --chmod applies to the source's 0644";

  auto bad = h_->Build("FROM base\nCOPY --chmod=u+q a.txt /o/\n");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(bad.status().message(), "Dockerfile:2:")) << bad.status();
}

TEST_F(CopyRulesTest, ContextFilesGoToRootStageFilesKeepTheirOwners) {
  ASSERT_GE(base::MappedUidCount(), static_cast<uint64_t>(kAppUid) + 1)
      << "this suite needs uid " << kAppUid << " mapped";
  ASSERT_EQ(::chown((h_->context_dir() + "/a.txt").c_str(), kAppUid, kAppGid), 0);
  TreeMap t = Tree(
      "FROM base AS src\n"
      "FROM base\n"
      "COPY a.txt /ctx/\n"
      "COPY --from=src /home/app /home-copy/\n"
      "COPY --from=src /etc/passwd /p\n");
  EXPECT_EQ(t["ctx/a.txt"].uid, 0u) << "a file from the context belongs to root";
  EXPECT_EQ(t["home-copy"].type, 'd');
  EXPECT_EQ(t["p"].data.substr(0, 5), "root:");
  // /home/app (owned by app in the stage) copied as an entry of /home keeps its owner.
  auto src = h_->Build("FROM base AS src\nFROM base\nCOPY --from=src /home /h/\n");
  ASSERT_TRUE(src.ok()) << src.status();
  auto ht = h_->TreeOf(src->top);
  ASSERT_TRUE(ht.ok()) << ht.status();
  EXPECT_EQ((*ht)["h/app"].uid, kAppUid) << "COPY --from keeps the owner from the stage";
}

TEST_F(CopyRulesTest, DockerignoreLeavesFilesOut) {
  TreeMap t = Tree("FROM base\nCOPY . /all/\n", "*.md\ndir/sub\n");
  EXPECT_TRUE(t.contains("all/a.txt"));
  EXPECT_FALSE(t.contains("all/c.md"));
  EXPECT_TRUE(t.contains("all/dir/x"));
  EXPECT_FALSE(t.contains("all/dir/sub"));
  auto named = h_->Build("FROM base\nCOPY c.md /x/\n", "*.md\n");
  EXPECT_FALSE(named.ok()) << "a named source that .dockerignore excludes is not found";
}

TEST_F(CopyRulesTest, CopyOntoScratchAndWorkdir) {
  TreeMap t = Tree("FROM scratch\nCOPY a.txt /\nWORKDIR /app/work\nCOPY b.txt .\n");
  EXPECT_EQ(t["a.txt"].data, "alpha\n");
  EXPECT_EQ(t["app/work"].type, 'd');
  EXPECT_EQ(t["app/work/b.txt"].data, "bravo\n");
  EXPECT_FALSE(t.contains("etc")) << "scratch starts empty";
  EXPECT_EQ(h_->image_unpacks(), 0);
}

TEST_F(CopyRulesTest, HeredocsAreFilesMadeOnScratch) {
  // Each heredoc is a file op without a base (the factory's shared scratch) copied in.
  TreeMap t =
      Tree("FROM base\nCOPY <<EOF /etc/motd\nhello\nEOF\nCOPY <<A <<B /h/\none\nA\ntwo\nB\n");
  EXPECT_EQ(t["etc/motd"].data, "hello\n");
  EXPECT_EQ(t["etc/motd"].mode, 0644u);
  EXPECT_EQ(t["h/A"].data, "one\n");
  EXPECT_EQ(t["h/B"].data, "two\n");
  EXPECT_EQ(t["etc/passwd"].type, 'f') << "the base is kept under the copies";
}

}  // namespace
}  // namespace kiln::engine::testing
