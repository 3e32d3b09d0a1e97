// HelperReaper and Sandbox::Run with the default network: the helper is stopped off the run's
// critical path, and is still never left behind. The helper here is a fake that says it is
// ready and then ignores its exit pipe (it only sleeps; it touches no network), so a run that
// waited for it would take the whole grace period.
#include "sandbox/helper_reaper.h"

#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/sandbox/rootfs_fixture.h"

namespace kiln::sandbox {
namespace {

bool Exists(pid_t pid) { return ::access(absl::StrCat("/proc/", pid).c_str(), F_OK) == 0; }

// Forks `sleep 30` that ignores SIGTERM; returns its pid and pidfd.
pid_t StartSleeper(base::UniqueFd* pidfd) {
  pid_t pid = ::fork();
  if (pid == 0) {
    ::signal(SIGTERM, SIG_IGN);
    ::execl("/bin/sleep", "sleep", "30", nullptr);
    ::_exit(127);
  }
  *pidfd = base::UniqueFd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
  return pid;
}

TEST(HelperReaperTest, AdoptNeverBlocksAndKillsAfterTheGrace) {
  HelperReaper reaper(absl::Milliseconds(200));
  base::UniqueFd pidfd;
  pid_t pid = StartSleeper(&pidfd);
  ASSERT_TRUE(pidfd.valid());
  absl::Time t0 = absl::Now();
  reaper.Adopt(pid, std::move(pidfd));
  EXPECT_LT(absl::Now() - t0, absl::Milliseconds(100)) << "Adopt waited for the child";
  EXPECT_EQ(reaper.pending(), 1u);
  EXPECT_TRUE(Exists(pid)) << "the control: the child runs until the grace is over";
  reaper.WaitIdle();
  EXPECT_GE(absl::Now() - t0, absl::Milliseconds(200));
  EXPECT_LT(absl::Now() - t0, absl::Seconds(5));
  EXPECT_FALSE(Exists(pid)) << "killed and reaped (no zombie)";
}

TEST(HelperReaperTest, DestructorWaitsForPendingChildren) {
  base::UniqueFd a, b;
  pid_t pa = StartSleeper(&a);
  pid_t pb = StartSleeper(&b);
  {
    HelperReaper reaper(absl::Milliseconds(100));
    reaper.Adopt(pa, std::move(a));
    reaper.Adopt(pb, std::move(b));
  }
  EXPECT_FALSE(Exists(pa));
  EXPECT_FALSE(Exists(pb));
}

// A helper that exits by itself is reaped at once, long before the grace ends.
TEST(HelperReaperTest, ReapsAChildThatExits) {
  HelperReaper reaper(absl::Seconds(30));
  pid_t pid = ::fork();
  if (pid == 0) ::_exit(0);
  base::UniqueFd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
  ASSERT_TRUE(pidfd.valid());
  absl::Time t0 = absl::Now();
  reaper.Adopt(pid, std::move(pidfd));
  reaper.WaitIdle();
  EXPECT_LT(absl::Now() - t0, absl::Seconds(5));
  EXPECT_FALSE(Exists(pid));
}

class DefaultNetworkRunTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto r = testing::BusyboxRootfs::Create();
    ASSERT_TRUE(r.ok()) << r.status();
    rootfs_ = std::move(*r);
    const std::string d = rootfs_.dir.path();
    std::ofstream(d + "/fake-helper")
        << "#!/bin/sh\n"
           "case \"$1\" in\n"
           "  --version) echo 'slirp4netns version 9.9.9'; exit 0;;\n"
           "  --help) echo '--disable-dns --disable-host-loopback'; exit 0;;\n"
           "esac\n"
           "printf 1 >&3\nexec 3>&-\n"
           "trap '' TERM\nexec sleep 30\n";  // ignores the exit pipe (fd 4)
    ASSERT_EQ(::chmod((d + "/fake-helper").c_str(), 0755), 0);
    std::ofstream(d + "/resolv.conf") << "nameserver 198.51.100.1\n";
    SandboxOptions options;
    options.state_dir = d;
    options.network.slirp4netns = d + "/fake-helper";
    options.network.tun_device = "/dev/null";  // the fake needs no TUN device
    auto sb = Sandbox::Create(std::move(options));
    ASSERT_TRUE(sb.ok()) << sb.status();
    sandbox_ = std::move(*sb);
    ASSERT_TRUE(sandbox_->network_helper().usable()) << sandbox_->network_helper().problem();
  }

  Spec TrueSpec() const {
    Spec spec;
    spec.argv = {"/bin/true"};
    spec.rootfs = {rootfs_.BindMount()};
    spec.network = NetworkMode::kDefault;
    spec.resolv_conf = rootfs_.dir.path() + "/resolv.conf";
    return spec;
  }

  testing::BusyboxRootfs rootfs_;
  std::unique_ptr<Sandbox> sandbox_;
};

// Run returns without waiting for the helper to exit (a synchronous stop would wait the whole
// second of grace for this helper); the helper is then killed and reaped in the background.
TEST_F(DefaultNetworkRunTest, RunDoesNotWaitForTheHelpersExit) {
  absl::Time t0 = absl::Now();
  absl::StatusOr<Result> r = sandbox_->Run(TrueSpec());
  absl::Duration took = absl::Now() - t0;
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->exit_code, 0);
  EXPECT_LT(took, absl::Milliseconds(900)) << "Run waited for the helper to exit";
  std::vector<pid_t> left = testing::ChildPids();
  ASSERT_EQ(left.size(), 1u) << "the control: the helper is still stopping";
  EXPECT_EQ(sandbox_->helper_reaper().pending(), 1u);
  sandbox_->helper_reaper().WaitIdle();
  EXPECT_LT(absl::Now() - t0, absl::Seconds(10));
  EXPECT_FALSE(Exists(left[0]));
  EXPECT_THAT(testing::ChildPids(), ::testing::IsEmpty());
}

// Destroying the Sandbox (daemon shutdown) waits for the helpers still stopping.
TEST_F(DefaultNetworkRunTest, SandboxDestructionWaitsForStoppingHelpers) {
  for (int i = 0; i < 2; ++i) {
    absl::StatusOr<Result> r = sandbox_->Run(TrueSpec());
    ASSERT_TRUE(r.ok()) << r.status();
  }
  std::vector<pid_t> left = testing::ChildPids();
  EXPECT_EQ(left.size(), 2u) << "the control: both helpers are still stopping";
  sandbox_.reset();
  for (pid_t pid : left) EXPECT_FALSE(Exists(pid));
  EXPECT_THAT(testing::ChildPids(), ::testing::IsEmpty());
}

}  // namespace
}  // namespace kiln::sandbox
