// Snapshotter::Verify on the on-disk snapshotters: a clean root has no problem; a removed
// snapshot dir is reported, and repair removes it with the snapshots stacked on it and nothing
// else. Everything is inside the test's temp dir.
#include <fcntl.h>

#include <string>

#include "base/fs.h"
#include "base/temp_dir.h"
#include "base/unique_fd.h"
#include "gtest/gtest.h"
#include "tests/snapshotter/impls.h"

namespace kiln::snapshotter::testing {
namespace {

template <typename Impl>
class VerifyTest : public ::testing::Test {};
using DiskImpls = ::testing::Types<OverlayImpl, NativeImpl>;
TYPED_TEST_SUITE(VerifyTest, DiskImpls, ImplName);

TYPED_TEST(VerifyTest, RemovedDirIsReportedAndRepairedWithItsChildren) {
  auto dir = base::TempDir::Create("kiln-snap-verify-");
  ASSERT_TRUE(dir.ok()) << dir.status();
  const std::string root = dir->path() + "/root";
  auto opened = TypeParam::Open(root);
  ASSERT_TRUE(opened.ok()) << opened.status();
  Snapshotter& s = **opened;
  ASSERT_TRUE(s.Prepare("a-active", "").ok());  // id 1
  ASSERT_TRUE(s.Commit("a", "a-active").ok());
  ASSERT_TRUE(s.Prepare("b-active", "a").ok());  // id 2
  ASSERT_TRUE(s.Commit("b", "b-active").ok());
  ASSERT_TRUE(s.Prepare("c-active", "").ok());  // id 3
  ASSERT_TRUE(s.Commit("c", "c-active").ok());

  auto clean = s.Verify(/*repair=*/true);
  ASSERT_TRUE(clean.ok()) << clean.status();
  EXPECT_EQ(clean->checked, 3);
  EXPECT_TRUE(clean->problems.empty());

  {
    base::UniqueFd snaps(::open((root + "/snapshots").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    ASSERT_TRUE(snaps);
    ASSERT_TRUE(base::RemoveTreeAt(snaps.get(), "1").ok());
  }
  auto found = s.Verify(/*repair=*/false);
  ASSERT_TRUE(found.ok()) << found.status();
  ASSERT_FALSE(found->problems.empty());
  EXPECT_EQ(found->problems[0].key, "a");
  EXPECT_NE(found->problems[0].affects.find("b"), std::string::npos) << found->problems[0].affects;
  EXPECT_TRUE(s.Stat("a").ok()) << "verify without repair removed";

  auto repaired = s.Verify(/*repair=*/true);
  ASSERT_TRUE(repaired.ok()) << repaired.status();
  for (const VerifyProblem& p : repaired->problems) EXPECT_TRUE(p.repaired) << p.key;
  EXPECT_TRUE(absl::IsNotFound(s.Stat("a").status()));
  EXPECT_TRUE(absl::IsNotFound(s.Stat("b").status()));
  EXPECT_TRUE(s.Stat("c").ok());
  auto after = s.Verify(/*repair=*/false);
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(after->checked, 1);
  EXPECT_TRUE(after->problems.empty());
}

}  // namespace
}  // namespace kiln::snapshotter::testing
