// Overlay probing and driver selection on this machine's kernel.
#include "snapshotter/probe.h"

#include <string>

#include "gtest/gtest.h"
#include "tests/snapshotter/test_util.h"

namespace kiln::snapshotter::testing {
namespace {

TEST(ProbeTest, OverlayWorksHere) {
  // This machine has overlayfs (PLATFORM.md); a failure means the probe or the kernel broke.
  absl::Status s = ProbeOverlay(NewDir("probe"));
  ASSERT_TRUE(s.ok()) << "overlayfs is expected to work on this machine: " << s;
}

TEST(ProbeTest, AutoPicksOverlayAndTheRootRemembersItsDriver) {
  std::string root = NewDir("auto") + "/root";
  {
    KILN_ASSERT_OK_AND_ASSIGN(OpenedSnapshotter o, OpenSnapshotter(root, Driver::kAuto));
    EXPECT_EQ(o.driver, Driver::kOverlay) << o.reason;
    KILN_ASSERT_OK(o.snapshotter->Prepare("a", "").status());
  }
  EXPECT_EQ(OpenSnapshotter(root, Driver::kNative).status().code(),
            absl::StatusCode::kInvalidArgument);
  KILN_ASSERT_OK_AND_ASSIGN(OpenedSnapshotter again, OpenSnapshotter(root, Driver::kAuto));
  EXPECT_EQ(again.driver, Driver::kOverlay);
  KILN_ASSERT_OK_AND_ASSIGN(Info a, again.snapshotter->Stat("a"));
  EXPECT_EQ(a.kind, Kind::kActive);
}

TEST(ProbeTest, ExplicitNativeIsKept) {
  std::string root = NewDir("native-root");
  {
    KILN_ASSERT_OK_AND_ASSIGN(OpenedSnapshotter o, OpenSnapshotter(root, Driver::kNative));
    EXPECT_EQ(o.driver, Driver::kNative);
  }
  KILN_ASSERT_OK_AND_ASSIGN(OpenedSnapshotter o, OpenSnapshotter(root, Driver::kAuto));
  EXPECT_EQ(o.driver, Driver::kNative);
  EXPECT_EQ(OpenSnapshotter(root, Driver::kOverlay).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace kiln::snapshotter::testing
