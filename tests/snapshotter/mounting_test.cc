// Tests through real mounts, run against the on-disk snapshotters (overlay and native):
// content visibility across parent/child, whiteouts and opaque dirs, a 1,000-deep chain,
// usage and restart recovery (kills in the middle of operations: mounting_crash_test.cc).
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

using RealImpls = ::testing::Types<OverlayImpl, NativeImpl>;
TYPED_TEST_SUITE(MountingTest, RealImpls, ImplName);

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
