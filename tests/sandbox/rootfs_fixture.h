// Test helpers: a busybox rootfs built from /bin/busybox, and process/mount leak checks.
#ifndef KILN_TESTS_SANDBOX_ROOTFS_FIXTURE_H_
#define KILN_TESTS_SANDBOX_ROOTFS_FIXTURE_H_

#include <sys/types.h>

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "base/temp_dir.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "sandbox/sandbox.h"

namespace kiln::sandbox::testing {

// <tmp>/rootfs with bin/busybox + applet symlinks, etc/passwd (root, app 1000, nobody 65534),
// etc/group (root, wheel 10 with app, staff 50 with app, app 1000, nogroup 65534), tmp (1777).
// Owned by the running user (mapped to 0 in the sandbox). Removed on destruction.
struct BusyboxRootfs {
  base::TempDir dir;
  std::string root;  // dir/rootfs

  static absl::StatusOr<BusyboxRootfs> Create();
  // Copies the host file `src` to `dst` (relative to root) with mode `mode`.
  absl::Status AddFile(const std::string& src, const std::string& dst, unsigned mode) const;
  base::Mount BindMount() const { return base::Mount{"bind", root, {}}; }
};

// The sandbox shared by a test binary (created on first use; fatal if creation fails).
const Sandbox& SharedSandbox();

// Runs `argv` in `rootfs` and collects output.
struct Captured {
  absl::StatusOr<Result> result;
  std::string out;
  std::string err;
};
Captured RunCaptured(Spec spec);
Spec ShellSpec(const BusyboxRootfs& rootfs, const std::string& script);

// Pids whose parent is this process (from /proc/*/stat).
std::vector<pid_t> ChildPids();
// The mount points under the tests' and sandbox's own directories ("/kiln-sb*",
// "/kiln-sandbox-*"), sorted.
std::vector<std::string> MountPoints();

// A test fixture with a fresh busybox rootfs that checks no run leaves a mount or process.
class RunTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto r = BusyboxRootfs::Create();
    ASSERT_TRUE(r.ok()) << r.status();
    rootfs_ = std::move(*r);
    (void)SharedSandbox();
    mounts_before_ = MountPoints();
  }
  void TearDown() override {
    EXPECT_EQ(MountPoints(), mounts_before_) << "a run left a mount behind";
    EXPECT_THAT(ChildPids(), ::testing::IsEmpty()) << "a run left a process behind";
  }
  Captured Sh(const std::string& script) { return RunCaptured(ShellSpec(rootfs_, script)); }

  BusyboxRootfs rootfs_;
  std::vector<std::string> mounts_before_;
};

}  // namespace kiln::sandbox::testing

#endif  // KILN_TESTS_SANDBOX_ROOTFS_FIXTURE_H_
