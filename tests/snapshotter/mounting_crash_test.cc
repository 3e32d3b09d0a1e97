// Kills in the middle of snapshotter operations, and machine crashes while a root is open,
// against the on-disk snapshotters (overlay and native) through real mounts.
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
#include "tests/snapshotter/mounting_fixture.h"
#include "tests/snapshotter/test_util.h"

namespace kiln::snapshotter::testing {
namespace {

template <typename Impl>
class MountingCrashTest : public MountingTest<Impl> {};

using CrashImpls = ::testing::Types<OverlayImpl, NativeImpl>;
TYPED_TEST_SUITE(MountingCrashTest, CrashImpls, ImplName);

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

TYPED_TEST(MountingCrashTest, KillDuringPrepareLeavesNoSnapshot) {
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

TYPED_TEST(MountingCrashTest, KillDuringCommitKeepsTheActiveSnapshot) {
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

TYPED_TEST(MountingCrashTest, KillDuringRemoveLeavesNoGarbage) {
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

TYPED_TEST(MountingCrashTest, KillBetweenPrepareAndCommit) {
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

TYPED_TEST(MountingCrashTest, MachineCrashWhileOpenDiscardsTheRoot) {
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

TYPED_TEST(MountingCrashTest, KilledProcessOrCleanCloseKeepsTheRootAcrossBoots) {
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

TYPED_TEST(MountingCrashTest, PerTransactionSyncFlushesAndClosesAnEarlierSession) {
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
