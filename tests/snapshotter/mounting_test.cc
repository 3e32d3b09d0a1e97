// Tests through real mounts, run against the on-disk snapshotters (overlay and native):
// content visibility across parent/child, whiteouts and opaque dirs, a 1,000-deep chain,
// usage, restart recovery and kills in the middle of operations.
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/temp_dir.h"
#include "gtest/gtest.h"
#include "tests/snapshotter/impls.h"
#include "tests/snapshotter/test_util.h"

namespace kiln::snapshotter::testing {
namespace {

template <typename Impl>
class MountingTest : public ::testing::Test {
 public:  // also used by helpers below
  void SetUp() override {
    root_ = NewDir(std::string(Impl::kName) + "-root");
    mnt_ = NewDir("mnt");
  }

  absl::StatusOr<std::unique_ptr<Snapshotter>> Open(LocalSnapshotterOptions o = {}) {
    return Impl::Open(root_, o);
  }

  // Prepares `key` on `parent`, mounts it on mnt_, runs `edit(mnt_)`, unmounts, commits.
  absl::Status Layer(Snapshotter& sn, const std::string& name, const std::string& parent,
                     const std::function<absl::Status(const std::string&)>& edit) {
    std::string key = name + "-active";
    KILN_ASSIGN_OR_RETURN(std::vector<base::Mount> mounts, sn.Prepare(key, parent));
    {
      KILN_ASSIGN_OR_RETURN(base::ScopedMount m, MountOn(mounts, mnt_));
      KILN_RETURN_IF_ERROR(edit(mnt_));
      KILN_RETURN_IF_ERROR(m.Reset());
    }
    return sn.Commit(name, key);
  }

  // The tree of committed `name`, read through a temporary view.
  absl::StatusOr<Tree> TreeOf(Snapshotter& sn, const std::string& name) {
    std::string key = name + "-view";
    KILN_ASSIGN_OR_RETURN(std::vector<base::Mount> mounts, sn.View(key, name));
    absl::StatusOr<Tree> tree;
    {
      KILN_ASSIGN_OR_RETURN(base::ScopedMount m, MountOn(mounts, mnt_));
      tree = ReadTree(mnt_);
    }
    KILN_RETURN_IF_ERROR(sn.Remove(key));
    return tree;
  }

  // Directories under <root>/snapshots (one per snapshot record, see local_snapshotter.h).
  int SnapshotDirs() {
    int n = 0;
    for (const auto& e : std::filesystem::directory_iterator(root_ + "/snapshots")) {
      (void)e;
      ++n;
    }
    return n;
  }
  int Records(Snapshotter& sn) {
    int n = 0;
    (void)sn.Walk([&](const Info&) {
      ++n;
      return absl::OkStatus();
    });
    return n;
  }

  std::string root_;
  std::string mnt_;
};

using RealImpls = ::testing::Types<OverlayImpl, NativeImpl>;
TYPED_TEST_SUITE(MountingTest, RealImpls, ImplName);

absl::Status Run(bool ok, std::string_view what) {
  if (ok) return absl::OkStatus();
  return base::ErrnoError(what);
}

absl::Status MakeBase(const std::string& m) {
  KILN_RETURN_IF_ERROR(WriteFile(m + "/file1", "one", 0640));
  KILN_RETURN_IF_ERROR(Run(::mkdir((m + "/d").c_str(), 0750) == 0, "mkdir d"));
  KILN_RETURN_IF_ERROR(WriteFile(m + "/d/x", "x"));
  KILN_RETURN_IF_ERROR(WriteFile(m + "/d/y", "y"));
  KILN_RETURN_IF_ERROR(Run(::mkdir((m + "/e").c_str(), 0755) == 0, "mkdir e"));
  KILN_RETURN_IF_ERROR(WriteFile(m + "/e/f", "f"));
  KILN_RETURN_IF_ERROR(Run(::mkdir((m + "/o").c_str(), 0755) == 0, "mkdir o"));
  KILN_RETURN_IF_ERROR(WriteFile(m + "/o/1", "1"));
  KILN_RETURN_IF_ERROR(WriteFile(m + "/o/2", "2"));
  KILN_RETURN_IF_ERROR(Run(::symlink("file1", (m + "/link").c_str()) == 0, "symlink"));
  KILN_RETURN_IF_ERROR(Run(::link((m + "/file1").c_str(), (m + "/hl").c_str()) == 0, "link"));
  KILN_RETURN_IF_ERROR(Run(::mkfifo((m + "/p").c_str(), 0600) == 0, "mkfifo"));
  KILN_RETURN_IF_ERROR(
      Run(::setxattr((m + "/file1").c_str(), "user.k", "v", 1, 0) == 0, "setxattr"));
  return absl::OkStatus();
}

const Tree kBaseTree = {
    {"d", "dir 0750"},       {"d/x", "file 0644 x"}, {"d/y", "file 0644 y"},
    {"e", "dir 0755"},       {"e/f", "file 0644 f"}, {"file1", "file 0640 one"},
    {"hl", "file 0640 one"}, {"link", "link file1"}, {"o", "dir 0755"},
    {"o/1", "file 0644 1"},  {"o/2", "file 0644 2"}, {"p", "fifo 0600"},
};

absl::Status EditChild(const std::string& m) {
  KILN_ASSIGN_OR_RETURN(std::string one, ReadFile(m + "/file1"));
  if (one != "one") return absl::InternalError("child does not see the parent's file1");
  char v[4] = {};
  if (::getxattr((m + "/file1").c_str(), "user.k", v, sizeof v) != 1 || v[0] != 'v') {
    return absl::InternalError("child does not see the parent's xattr");
  }
  KILN_RETURN_IF_ERROR(WriteFile(m + "/new", "two"));
  KILN_RETURN_IF_ERROR(Run(::unlink((m + "/d/x").c_str()) == 0, "unlink d/x"));
  KILN_RETURN_IF_ERROR(Run(::chmod((m + "/d").c_str(), 0700) == 0, "chmod d"));
  std::error_code ec;
  std::filesystem::remove_all(m + "/e", ec);
  std::filesystem::remove_all(m + "/o", ec);
  KILN_RETURN_IF_ERROR(Run(!ec, "remove e, o"));
  KILN_RETURN_IF_ERROR(Run(::mkdir((m + "/o").c_str(), 0711) == 0, "mkdir o"));
  KILN_RETURN_IF_ERROR(WriteFile(m + "/o/3", "3"));
  KILN_RETURN_IF_ERROR(Run(::unlink((m + "/p").c_str()) == 0, "unlink p"));
  return absl::OkStatus();
}

TYPED_TEST(MountingTest, ChildSeesParentAndDeletionsHideIt) {
  KILN_ASSERT_OK_AND_ASSIGN(auto sn, this->Open());
  KILN_ASSERT_OK(this->Layer(*sn, "base", "", MakeBase));
  KILN_ASSERT_OK(this->Layer(*sn, "child", "base", EditChild));
  KILN_ASSERT_OK(this->Layer(*sn, "grandchild", "child", [](const std::string& m) {
    return WriteFile(m + "/d/x", "again");  // re-create a path deleted below
  }));

  KILN_ASSERT_OK_AND_ASSIGN(Tree base, this->TreeOf(*sn, "base"));
  EXPECT_EQ(base, kBaseTree);
  Tree child = kBaseTree;
  child.erase("d/x");
  child.erase("e");
  child.erase("e/f");
  child.erase("o/1");
  child.erase("o/2");
  child.erase("p");
  child["d"] = "dir 0700";
  child["o"] = "dir 0711";
  child["o/3"] = "file 0644 3";
  child["new"] = "file 0644 two";
  KILN_ASSERT_OK_AND_ASSIGN(Tree got_child, this->TreeOf(*sn, "child"));
  EXPECT_EQ(got_child, child);
  child["d/x"] = "file 0644 again";
  KILN_ASSERT_OK_AND_ASSIGN(Tree got_grandchild, this->TreeOf(*sn, "grandchild"));
  EXPECT_EQ(got_grandchild, child);

  // Hardlinks and xattrs survive into the child's view.
  KILN_ASSERT_OK_AND_ASSIGN(auto view, sn->View("check", "child"));
  KILN_ASSERT_OK_AND_ASSIGN(base::ScopedMount m, MountOn(view, this->mnt_));
  struct stat a, b;
  ASSERT_EQ(::lstat((this->mnt_ + "/file1").c_str(), &a), 0);
  ASSERT_EQ(::lstat((this->mnt_ + "/hl").c_str(), &b), 0);
  EXPECT_EQ(a.st_ino, b.st_ino);
  EXPECT_EQ(a.st_nlink, 2u);
  char v[4] = {};
  EXPECT_EQ(::getxattr((this->mnt_ + "/file1").c_str(), "user.k", v, sizeof v), 1);
  EXPECT_EQ(v[0], 'v');
  // A view is read-only.
  EXPECT_NE(::mkdir((this->mnt_ + "/nope").c_str(), 0755), 0);
  EXPECT_EQ(errno, EROFS);
}

TYPED_TEST(MountingTest, UsageCountsTheLayer) {
  KILN_ASSERT_OK_AND_ASSIGN(auto sn, this->Open());
  KILN_ASSERT_OK(this->Layer(*sn, "big", "", [](const std::string& m) {
    KILN_RETURN_IF_ERROR(WriteFile(m + "/a", std::string(1 << 20, 'a')));
    KILN_RETURN_IF_ERROR(WriteFile(m + "/b", "b"));
    return Run(::link((m + "/a").c_str(), (m + "/a2").c_str()) == 0, "link");
  }));
  KILN_ASSERT_OK_AND_ASSIGN(DiskUsage u, sn->Usage("big"));
  EXPECT_GE(u.size, 1 << 20);
  EXPECT_LT(u.size, 2 << 20) << "the hardlink must count once";
  EXPECT_EQ(u.inodes, 3);  // root dir, a (= a2), b
}

// One layer of the deep-chain workload; `model` is kept in step with what it does.
absl::Status DeepLayerOps(int i, const std::string& m, Tree& model) {
  if (i == 1) {
    KILN_RETURN_IF_ERROR(Run(::mkdir((m + "/f").c_str(), 0755) == 0, "mkdir f"));
    model["f"] = "dir 0755";
  }
  std::string name = absl::StrCat("f/", i);
  KILN_RETURN_IF_ERROR(WriteFile(m + "/" + name, absl::StrCat("v", i)));
  model[name] = absl::StrCat("file 0644 v", i);
  if (i >= 3) {
    std::string old = absl::StrCat("f/", i - 3);
    if (model.erase(old) > 0) {
      KILN_RETURN_IF_ERROR(Run(::unlink((m + "/" + old).c_str()) == 0, "unlink " + old));
    }
  }
  if (i % 7 == 0) {
    std::string d = absl::StrCat("d", i);
    KILN_RETURN_IF_ERROR(Run(::mkdir((m + "/" + d).c_str(), 0755) == 0, "mkdir " + d));
    KILN_RETURN_IF_ERROR(WriteFile(m + "/" + d + "/x", d));
    model[d] = "dir 0755";
    model[d + "/x"] = "file 0644 " + d;
    std::string gone = absl::StrCat("d", i - 7);
    if (model.erase(gone) > 0) {
      model.erase(gone + "/x");
      std::error_code ec;
      std::filesystem::remove_all(m + "/" + gone, ec);
      KILN_RETURN_IF_ERROR(Run(!ec, "remove " + gone));
    }
  }
  if (i % 10 == 0) {  // replace "o" by a new opaque directory
    std::error_code ec;
    std::filesystem::remove_all(m + "/o", ec);
    for (auto it = model.begin(); it != model.end();) {
      it = (it->first == "o" || it->first.rfind("o/", 0) == 0) ? model.erase(it) : std::next(it);
    }
    KILN_RETURN_IF_ERROR(Run(::mkdir((m + "/o").c_str(), 0755) == 0, "mkdir o"));
    model["o"] = "dir 0755";
  }
  if (i % 10 == 5 && model.contains("o")) {  // add into the opaque dir of a lower layer
    KILN_RETURN_IF_ERROR(WriteFile(m + absl::StrCat("/o/", i), "o"));
    model[absl::StrCat("o/", i)] = "file 0644 o";
  }
  if (i % 100 == 0) {  // modify a file from the layer below
    std::string prev = absl::StrCat("f/", i - 1);
    KILN_RETURN_IF_ERROR(WriteFile(m + "/" + prev, absl::StrCat("w", i)));
    model[prev] = absl::StrCat("file 0644 w", i);
  }
  return absl::OkStatus();
}

TYPED_TEST(MountingTest, ThousandDeepChainMountsAndReadsCorrectly) {
  LocalSnapshotterOptions o;
  o.metadata_sync = MetadataSync::kOnClose;  // 2,000 fsyncs would only measure the disk
  KILN_ASSERT_OK_AND_ASSIGN(auto sn, this->Open(o));
  Tree model;
  std::string parent;
  for (int i = 1; i <= 1000; ++i) {
    std::string name = absl::StrCat("c", i);
    KILN_ASSERT_OK(this->Layer(*sn, name, parent,
                               [&](const std::string& m) { return DeepLayerOps(i, m, model); }))
        << "layer " << i;
    parent = name;
    if (i == 1 || i == 128 || i == 129 || i == 130 || i == 257 || i == 500 || i == 1000) {
      KILN_ASSERT_OK_AND_ASSIGN(Tree got, this->TreeOf(*sn, name));
      ASSERT_EQ(got, model) << "after layer " << i;
    }
  }
  KILN_ASSERT_OK_AND_ASSIGN(auto mounts, sn->Prepare("top", "c1000"));
  ASSERT_EQ(mounts.size(), 1u);
  EXPECT_LE(LowerCount(mounts[0]), 128);
}

TYPED_TEST(MountingTest, FrequentFlatteningKeepsContent) {
  LocalSnapshotterOptions o;
  o.metadata_sync = MetadataSync::kOnClose;
  o.max_lower_dirs = 3;
  KILN_ASSERT_OK_AND_ASSIGN(auto sn, this->Open(o));
  Tree model;
  std::string parent;
  for (int i = 1; i <= 45; ++i) {
    std::string name = absl::StrCat("c", i);
    KILN_ASSERT_OK(this->Layer(*sn, name, parent,
                               [&](const std::string& m) { return DeepLayerOps(i, m, model); }))
        << "layer " << i;
    parent = name;
    KILN_ASSERT_OK_AND_ASSIGN(Tree got, this->TreeOf(*sn, name));
    ASSERT_EQ(got, model) << "after layer " << i;
    KILN_ASSERT_OK_AND_ASSIGN(auto mounts, sn->View("probe", name));
    EXPECT_LE(LowerCount(mounts[0]), 3);
    KILN_ASSERT_OK(sn->Remove("probe"));
  }
}

TYPED_TEST(MountingTest, StateSurvivesRestart) {
  std::vector<Info> before;
  {
    KILN_ASSERT_OK_AND_ASSIGN(auto sn, this->Open());
    KILN_ASSERT_OK(this->Layer(*sn, "base", "", MakeBase));
    KILN_ASSERT_OK_AND_ASSIGN(auto mounts, sn->Prepare("work", "base", {{"k", "v"}}));
    {
      KILN_ASSERT_OK_AND_ASSIGN(base::ScopedMount m, MountOn(mounts, this->mnt_));
      KILN_ASSERT_OK(WriteFile(this->mnt_ + "/added", "in progress"));
    }
    KILN_ASSERT_OK(sn->View("look", "base").status());
    // A second snapshotter on the same root is refused while the first is open.
    EXPECT_EQ(this->Open().status().code(), absl::StatusCode::kFailedPrecondition);
    KILN_ASSERT_OK(sn->Walk([&](const Info& i) {
      before.push_back(i);
      return absl::OkStatus();
    }));
  }
  KILN_ASSERT_OK_AND_ASSIGN(auto sn, this->Open());
  std::vector<Info> after;
  KILN_ASSERT_OK(sn->Walk([&](const Info& i) {
    after.push_back(i);
    return absl::OkStatus();
  }));
  EXPECT_EQ(after, before);
  KILN_ASSERT_OK_AND_ASSIGN(auto mounts, sn->Mounts("work"));
  {
    KILN_ASSERT_OK_AND_ASSIGN(base::ScopedMount m, MountOn(mounts, this->mnt_));
    EXPECT_EQ(ReadFile(this->mnt_ + "/added").value_or("?"), "in progress");
    EXPECT_EQ(ReadFile(this->mnt_ + "/d/y").value_or("?"), "y");
  }
  KILN_ASSERT_OK(sn->Commit("done", "work"));
  KILN_ASSERT_OK_AND_ASSIGN(Tree done, this->TreeOf(*sn, "done"));
  EXPECT_EQ(done.at("added"), "file 0644 in progress");
  EXPECT_EQ(this->SnapshotDirs(), this->Records(*sn));
}

// Runs `body` in a forked child with its own mount namespace (so its mounts die with it)
// and returns the child's exit code (-1 if it did not exit normally).
int RunInChild(const std::function<int()>& body) {
  pid_t pid = ::fork();
  if (pid == 0) {
    if (::unshare(CLONE_NEWNS) != 0 ||
        ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
      ::_exit(90);
    }
    ::_exit(body());
  }
  int status = 0;
  if (pid < 0 || ::waitpid(pid, &status, 0) != pid) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

constexpr int kKilled = 42;

template <typename Impl>
int KillAt(const std::string& root, const std::string& point, LocalSnapshotterOptions o,
           const std::function<absl::Status(Snapshotter&)>& op) {
  return RunInChild([&] {
    o.fault_hook = [point](std::string_view p) {
      if (p == point) ::_exit(kKilled);
    };
    auto sn = Impl::Open(root, o);
    if (!sn.ok()) return 2;
    absl::Status s = op(**sn);
    return s.ok() ? 0 : 3;  // returning means the kill point was never reached
  });
}

TYPED_TEST(MountingTest, KillDuringPrepareLeavesNoSnapshot) {
  {
    KILN_ASSERT_OK_AND_ASSIGN(auto sn, this->Open());
    KILN_ASSERT_OK(this->Layer(*sn, "base", "", MakeBase));
  }
  int rc = KillAt<TypeParam>(this->root_, "prepare.dirs_created", {},
                             [](Snapshotter& sn) { return sn.Prepare("victim", "base").status(); });
  ASSERT_EQ(rc, kKilled);
  EXPECT_EQ(this->SnapshotDirs(), 2) << "base and the half-made victim";
  KILN_ASSERT_OK_AND_ASSIGN(auto sn, this->Open());
  EXPECT_EQ(sn->Stat("victim").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(this->SnapshotDirs(), 1);
  EXPECT_EQ(this->Records(*sn), 1);
  KILN_ASSERT_OK(sn->Prepare("victim", "base").status());
}

TYPED_TEST(MountingTest, KillDuringCommitKeepsTheActiveSnapshot) {
  LocalSnapshotterOptions o;
  o.max_lower_dirs = 1;  // overlay flattens in this commit, before the kill point
  {
    KILN_ASSERT_OK_AND_ASSIGN(auto sn, this->Open(o));
    KILN_ASSERT_OK(this->Layer(*sn, "base", "", MakeBase));
    KILN_ASSERT_OK_AND_ASSIGN(auto mounts, sn->Prepare("act", "base"));
    KILN_ASSERT_OK_AND_ASSIGN(base::ScopedMount m, MountOn(mounts, this->mnt_));
    KILN_ASSERT_OK(WriteFile(this->mnt_ + "/added", "a"));
    KILN_ASSERT_OK(Run(::unlink((this->mnt_ + "/d/x").c_str()) == 0, "unlink"));
  }
  int rc = KillAt<TypeParam>(this->root_, "commit.before_txn", o,
                             [](Snapshotter& sn) { return sn.Commit("done", "act"); });
  ASSERT_EQ(rc, kKilled);
  KILN_ASSERT_OK_AND_ASSIGN(auto sn, this->Open(o));
  EXPECT_EQ(sn->Stat("done").status().code(), absl::StatusCode::kNotFound);
  KILN_ASSERT_OK_AND_ASSIGN(Info act, sn->Stat("act"));
  EXPECT_EQ(act.kind, Kind::kActive);
  int flats = 0;
  for (const auto& e : std::filesystem::directory_iterator(this->root_ + "/snapshots")) {
    flats += std::filesystem::exists(e.path() / "flat");
  }
  EXPECT_EQ(flats, 0) << "a half-written flattened copy survived the restart";
  EXPECT_EQ(this->SnapshotDirs(), this->Records(*sn));
  // The active snapshot still works and commits.
  KILN_ASSERT_OK(sn->Commit("done", "act"));
  Tree want = kBaseTree;
  want.erase("d/x");
  want["added"] = "file 0644 a";
  KILN_ASSERT_OK_AND_ASSIGN(Tree got, this->TreeOf(*sn, "done"));
  EXPECT_EQ(got, want);
}

TYPED_TEST(MountingTest, KillDuringRemoveLeavesNoGarbage) {
  {
    KILN_ASSERT_OK_AND_ASSIGN(auto sn, this->Open());
    KILN_ASSERT_OK(this->Layer(*sn, "base", "", MakeBase));
    KILN_ASSERT_OK(this->Layer(*sn, "gone", "base", EditChild));
  }
  int rc = KillAt<TypeParam>(this->root_, "remove.record_deleted", {},
                             [](Snapshotter& sn) { return sn.Remove("gone"); });
  ASSERT_EQ(rc, kKilled);
  EXPECT_EQ(this->SnapshotDirs(), 2);
  KILN_ASSERT_OK_AND_ASSIGN(auto sn, this->Open());
  EXPECT_EQ(sn->Stat("gone").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(this->SnapshotDirs(), 1);
  KILN_ASSERT_OK(sn->Remove("base"));  // its child count was updated in the same transaction
}

TYPED_TEST(MountingTest, KillBetweenPrepareAndCommit) {
  {
    KILN_ASSERT_OK_AND_ASSIGN(auto sn, this->Open());
    KILN_ASSERT_OK(this->Layer(*sn, "base", "", MakeBase));
  }
  std::string mnt = this->mnt_;
  int rc = RunInChild([&] {
    auto sn = TypeParam::Open(this->root_);
    if (!sn.ok()) return 2;
    auto mounts = (*sn)->Prepare("half", "base");
    if (!mounts.ok() || !base::MountAt((*mounts)[0], mnt).ok()) return 3;
    if (!WriteFile(mnt + "/partial", "p").ok()) return 4;
    ::_exit(kKilled);  // still mounted, never committed
  });
  ASSERT_EQ(rc, kKilled);
  {
    // By default the uncommitted snapshot stays active (containerd's behaviour) ...
    KILN_ASSERT_OK_AND_ASSIGN(auto sn, this->Open());
    KILN_ASSERT_OK_AND_ASSIGN(Info half, sn->Stat("half"));
    EXPECT_EQ(half.kind, Kind::kActive);
    int committed = 0;
    KILN_ASSERT_OK(sn->Walk([&](const Info& i) {
      committed += i.kind == Kind::kCommitted;
      return absl::OkStatus();
    }));
    EXPECT_EQ(committed, 1);
  }
  // ... and an owner that discards uncommitted work on start gets a clean root.
  LocalSnapshotterOptions o;
  o.discard_uncommitted_on_open = true;
  KILN_ASSERT_OK_AND_ASSIGN(auto sn, this->Open(o));
  EXPECT_EQ(sn->Stat("half").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(this->SnapshotDirs(), 1);
  KILN_ASSERT_OK(sn->Remove("base"));
  EXPECT_EQ(this->SnapshotDirs(), 0);
}

// The session marker as the test reads it ("open <boot>" / "closed").
std::string SessionOf(const std::string& root) {
  std::string s = ReadFile(root + "/session").value_or("?");
  while (!s.empty() && s.back() == '\n') s.pop_back();
  return s;
}

// A process that dies with the root open, after committing "mid" and preparing "half".
template <typename Impl>
int DieWithRootOpen(MountingTest<Impl>* t, const LocalSnapshotterOptions& o) {
  return RunInChild([&] {
    auto sn = Impl::Open(t->root_, o);
    if (!sn.ok()) return 2;
    if (!t->Layer(**sn, "mid", "base", EditChild).ok()) return 3;
    if (!(*sn)->Prepare("half", "mid").ok()) return 4;
    ::_exit(kKilled);
  });
}

TYPED_TEST(MountingTest, MachineCrashWhileOpenDiscardsTheRoot) {
  LocalSnapshotterOptions boot_a, boot_b;
  boot_a.boot_id = "boot-a";
  boot_b.boot_id = "boot-b";
  {
    KILN_ASSERT_OK_AND_ASSIGN(auto sn, this->Open(boot_a));
    EXPECT_EQ(SessionOf(this->root_), "open boot-a");
    KILN_ASSERT_OK(this->Layer(*sn, "base", "", MakeBase));
  }
  EXPECT_EQ(SessionOf(this->root_), "closed");
  ASSERT_EQ(DieWithRootOpen(this, boot_a), kKilled);
  EXPECT_EQ(SessionOf(this->root_), "open boot-a");
  EXPECT_EQ(this->SnapshotDirs(), 3);
  // The next boot finds the marker of a session that never closed: nothing is trusted.
  KILN_ASSERT_OK_AND_ASSIGN(auto sn, this->Open(boot_b));
  EXPECT_EQ(SessionOf(this->root_), "open boot-b");
  EXPECT_EQ(this->Records(*sn), 0);
  EXPECT_EQ(this->SnapshotDirs(), 0);
  EXPECT_EQ(sn->Stat("base").status().code(), absl::StatusCode::kNotFound);
  // The root works as a new one.
  KILN_ASSERT_OK(this->Layer(*sn, "base", "", MakeBase));
  KILN_ASSERT_OK_AND_ASSIGN(Tree got, this->TreeOf(*sn, "base"));
  EXPECT_EQ(got, kBaseTree);
}

TYPED_TEST(MountingTest, KilledProcessOrCleanCloseKeepsTheRootAcrossBoots) {
  LocalSnapshotterOptions boot_a, boot_b;
  boot_a.boot_id = "boot-a";
  boot_b.boot_id = "boot-b";
  {
    KILN_ASSERT_OK_AND_ASSIGN(auto sn, this->Open(boot_a));
    KILN_ASSERT_OK(this->Layer(*sn, "base", "", MakeBase));
  }
  ASSERT_EQ(DieWithRootOpen(this, boot_a), kKilled);
  {
    // Same boot: only the process died; the kernel kept every write.
    KILN_ASSERT_OK_AND_ASSIGN(auto sn, this->Open(boot_a));
    KILN_ASSERT_OK_AND_ASSIGN(Info half, sn->Stat("half"));
    EXPECT_EQ(half.kind, Kind::kActive);
    KILN_ASSERT_OK_AND_ASSIGN(Info mid, sn->Stat("mid"));
    EXPECT_EQ(mid.kind, Kind::kCommitted);
  }
  // Closed cleanly (flushed): a later boot keeps everything.
  EXPECT_EQ(SessionOf(this->root_), "closed");
  KILN_ASSERT_OK_AND_ASSIGN(auto sn, this->Open(boot_b));
  EXPECT_EQ(this->Records(*sn), 3);
  KILN_ASSERT_OK_AND_ASSIGN(Tree base, this->TreeOf(*sn, "base"));
  EXPECT_EQ(base, kBaseTree);
  KILN_ASSERT_OK(sn->Commit("done", "half"));
  EXPECT_EQ(this->SnapshotDirs(), this->Records(*sn));
}

TYPED_TEST(MountingTest, PerTransactionSyncFlushesAndClosesAnEarlierSession) {
  LocalSnapshotterOptions boot_a, synced;
  boot_a.boot_id = "boot-a";
  synced.boot_id = "boot-a";
  synced.metadata_sync = MetadataSync::kEveryTransaction;
  {
    KILN_ASSERT_OK_AND_ASSIGN(auto sn, this->Open(boot_a));
    KILN_ASSERT_OK(this->Layer(*sn, "base", "", MakeBase));
  }
  ASSERT_EQ(DieWithRootOpen(this, boot_a), kKilled);
  KILN_ASSERT_OK_AND_ASSIGN(auto sn, this->Open(synced));
  // Flushed at open, so a crash from now on cannot lose what the killed session wrote.
  EXPECT_EQ(SessionOf(this->root_), "closed");
  EXPECT_EQ(this->Records(*sn), 3);
  KILN_ASSERT_OK(sn->Commit("done", "half"));
  KILN_ASSERT_OK_AND_ASSIGN(Tree done, this->TreeOf(*sn, "done"));
  EXPECT_EQ(done.count("new"), 1u);
}

}  // namespace
}  // namespace kiln::snapshotter::testing

namespace kiln::snapshotter::testing {
namespace {

// Calls into the snapshotter from inside its own fault points (no lock is held there) to
// check that in-flight operations reserve their keys and pin their parents.
TYPED_TEST(MountingTest, InFlightOperationsReserveKeysAndPinParents) {
  Snapshotter* self = nullptr;
  std::vector<std::string> seen;
  LocalSnapshotterOptions o;
  o.fault_hook = [&](std::string_view point) {
    if (self == nullptr) return;
    if (point == "prepare.dirs_created") {
      seen.push_back(absl::StrCat("remove parent: ", self->Remove("base").ToString()));
      seen.push_back(
          absl::StrCat("same key: ", self->Prepare("child", "base").status().ToString()));
    } else if (point == "commit.before_txn") {
      seen.push_back(absl::StrCat("remove key: ", self->Remove("child").ToString()));
      seen.push_back(absl::StrCat("commit key: ", self->Commit("other", "child").ToString()));
      seen.push_back(absl::StrCat("take name: ", self->Prepare("done", "").status().ToString()));
    }
  };
  KILN_ASSERT_OK_AND_ASSIGN(auto sn, this->Open(o));
  KILN_ASSERT_OK(this->Layer(*sn, "base", "", MakeBase));
  self = sn.get();
  KILN_ASSERT_OK(sn->Prepare("child", "base").status());
  KILN_ASSERT_OK(sn->Commit("done", "child"));
  self = nullptr;
  ASSERT_EQ(seen.size(), 5u);
  EXPECT_EQ(seen[0].rfind("remove parent: FAILED_PRECONDITION", 0), 0u) << seen[0];
  EXPECT_EQ(seen[1].rfind("same key: ALREADY_EXISTS", 0), 0u) << seen[1];
  EXPECT_EQ(seen[2].rfind("remove key: FAILED_PRECONDITION", 0), 0u) << seen[2];
  EXPECT_EQ(seen[3].rfind("commit key: FAILED_PRECONDITION", 0), 0u) << seen[3];
  EXPECT_EQ(seen[4].rfind("take name: ALREADY_EXISTS", 0), 0u) << seen[4];
  KILN_ASSERT_OK_AND_ASSIGN(Info done, sn->Stat("done"));
  EXPECT_EQ(done.parent, "base");
  EXPECT_EQ(this->SnapshotDirs(), this->Records(*sn));
}

TYPED_TEST(MountingTest, ChildUsageIsItsOwnLayer) {
  KILN_ASSERT_OK_AND_ASSIGN(auto sn, this->Open());
  KILN_ASSERT_OK(this->Layer(*sn, "big", "", [](const std::string& m) {
    return WriteFile(m + "/a", std::string(1 << 20, 'a'));
  }));
  KILN_ASSERT_OK(this->Layer(*sn, "small", "big",
                             [](const std::string& m) { return WriteFile(m + "/b", "b"); }));
  KILN_ASSERT_OK_AND_ASSIGN(DiskUsage u, sn->Usage("small"));
  if constexpr (std::is_same_v<TypeParam, OverlayImpl>) {
    EXPECT_LT(u.size, 1 << 20) << "an overlay layer holds only its own changes";
    EXPECT_EQ(u.inodes, 2);  // root dir, b
  } else {
    EXPECT_GE(u.size, 1 << 20) << "a native snapshot is a full copy";
    EXPECT_EQ(u.inodes, 3);  // root dir, a, b
  }
}

}  // namespace
}  // namespace kiln::snapshotter::testing
