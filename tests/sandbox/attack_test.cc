// The attack suite: a static probe inside the sandbox tries to escape in every way the issue
// lists; every attempt must fail. Also the fork bomb, bounded by the limit layer in force.
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "base/unique_fd.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "sandbox/sandbox.h"
#include "tests/sandbox/rootfs_fixture.h"

namespace kiln::sandbox {
namespace {

using testing::BusyboxRootfs;
using testing::Captured;
using ::testing::HasSubstr;
using testing::RunCaptured;
using testing::SharedSandbox;
using testing::ShellSpec;

const char* const kAttacks[] = {
    "mount_tmpfs",
    "mount_proc",
    "bind_root",
    "umount_resolv_conf",
    "umount_proc_sys",
    "remount_proc_sys_rw",
    "fsopen",
    "open_tree",
    "unshare_user",
    "unshare_mount",
    "clone_newuser",
    "setns_user",
    "pivot_root",
    "chroot_escape",
    "ptrace_init",
    "ptrace_host_pid",
    "read_marker",
    "proc1_root",
    "proc_self_root_dotdot",
    "dotdot_chain",
    "read_kcore",
    "read_proc_keys",
    "write_proc_sys",
    "write_drop_caches",
    "write_sysrq",
    "write_sys",
    "mknod_block",
    "mknod_mem",
    "kexec_load",
    "kexec_file_load",
    "init_module",
    "finit_module",
    "delete_module",
    "keyctl",
    "add_key",
    "reboot",
    "sethostname",
    "raw_socket",
    "packet_socket",
    "connect_host_loopback",
    "connect_host_ip",
    "host_fd",
    "open_by_handle_at",
    "bpf",
    "perf_event_open",
    "userfaultfd",
    "io_uring_setup",
};

class AttackTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto r = BusyboxRootfs::Create();
    ASSERT_TRUE(r.ok()) << r.status();
    rootfs_ = std::move(*r);
    absl::Status s = rootfs_.AddFile(KILN_SANDBOX_PROBE, "bin/attack_probe", 0755);
    ASSERT_TRUE(s.ok()) << s;
    marker_ = rootfs_.dir.path() + "/host-secret";
    std::ofstream(marker_) << "host secret\n";
    mounts_before_ = testing::MountPoints();
  }
  void TearDown() override {
    EXPECT_EQ(testing::MountPoints(), mounts_before_);
    EXPECT_THAT(testing::ChildPids(), ::testing::IsEmpty());
    // Per-run cgroups (when a cgroup layer is in force) are gone too.
    const LimitProbe& p = SharedSandbox().limits();
    for (const std::string& dir : {p.v2_parent, p.v1_pids, p.v1_memory}) {
      if (dir.empty()) continue;
      std::string prefix = absl::StrCat("kiln-run-", ::getpid(), "-");
      for (const auto& e : std::filesystem::directory_iterator(dir)) {
        EXPECT_NE(e.path().filename().string().rfind(prefix, 0), 0u) << "left " << e.path();
      }
    }
  }

  // Runs every attack as `user`; returns the probe's output.
  std::string RunAttacks(const std::string& user) {
    // A loopback listener in the host network namespace the sandbox must not reach.
    base::UniqueFd listener(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    EXPECT_EQ(::bind(listener.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    EXPECT_EQ(::listen(listener.get(), 8), 0);
    ::getsockname(listener.get(), reinterpret_cast<sockaddr*>(&addr), &len);
    // A host fd without O_CLOEXEC: the sandbox must not inherit it.
    base::UniqueFd leaky(::open(marker_.c_str(), O_RDONLY));
    EXPECT_TRUE(leaky.valid());
    Spec spec;
    spec.argv = {"/bin/attack_probe",
                 "attacks",
                 marker_,
                 absl::StrCat(ntohs(addr.sin_port)),
                 "192.0.2.1",
                 absl::StrCat(::getpid())};
    spec.env = {"PATH=/bin"};
    spec.user = user;
    spec.rootfs = {rootfs_.BindMount()};
    spec.timeout = absl::Seconds(60);
    Captured c = RunCaptured(spec);
    EXPECT_TRUE(c.result.ok()) << c.result.status();
    if (c.result.ok()) {
      EXPECT_EQ(c.result->exit_code, 0) << c.err;
    }
    return c.out;
  }

  void ExpectAllBlocked(const std::string& out) {
    for (absl::string_view line : absl::StrSplit(out, '\n')) {
      EXPECT_THAT(std::string(line), ::testing::Not(HasSubstr("ESCAPED")));
    }
    for (const char* attack : kAttacks) {
      EXPECT_THAT(out, HasSubstr(absl::StrCat(attack, ": BLOCKED")))
          << attack << " was not blocked (or did not run)";
    }
    EXPECT_THAT(out, HasSubstr("\ndone\n"));
  }

  BusyboxRootfs rootfs_;
  std::string marker_;
  std::vector<std::string> mounts_before_;
};

TEST_F(AttackTest, EveryAttackFailsAsRoot) { ExpectAllBlocked(RunAttacks("")); }

TEST_F(AttackTest, EveryAttackFailsAsUnprivilegedUser) {
  if (SharedSandbox().id_mapping().mapped_uids < 65536) {
    // Only one id is mapped: a non-root user cannot even start, with a clear message.
    Spec spec = ShellSpec(rootfs_, "true");
    spec.user = "app";
    EXPECT_EQ(RunCaptured(spec).result.status().code(), absl::StatusCode::kFailedPrecondition);
    return;
  }
  ExpectAllBlocked(RunAttacks("app"));
}

TEST_F(AttackTest, ForkBombIsBounded) {
  Spec spec;
  spec.argv = {"/bin/attack_probe", "forkbomb"};
  spec.rootfs = {rootfs_.BindMount()};
  spec.pids_max = 40;
  spec.timeout = absl::Seconds(60);
  Captured c = RunCaptured(spec);
  ASSERT_TRUE(c.result.ok()) << c.result.status();
  int forked = -1;
  char err[32] = {0};
  ASSERT_EQ(std::sscanf(c.out.c_str(), "forked=%d errno=%31s", &forked, err), 2) << c.out;
  EXPECT_GT(forked, 5);
  EXPECT_LT(forked, 40) << "limit layer " << LimitLayerName(SharedSandbox().limits().layer);
  EXPECT_STREQ(err, "EAGAIN");
}

TEST_F(AttackTest, MemoryHogIsBounded) {
  Spec spec;
  spec.argv = {"/bin/attack_probe", "memhog", "256"};
  spec.rootfs = {rootfs_.BindMount()};
  spec.timeout = absl::Seconds(60);
  Captured free_run = RunCaptured(spec);
  ASSERT_TRUE(free_run.result.ok()) << free_run.result.status();
  EXPECT_EQ(free_run.out, "allocated=256\n") << "control run without a limit should succeed";
  spec.memory_max_bytes = 64 << 20;
  Captured c = RunCaptured(spec);
  ASSERT_TRUE(c.result.ok()) << c.result.status();
  // RLIMIT_AS: malloc fails (exit 1); a memory cgroup: the OOM killer (SIGKILL).
  EXPECT_TRUE(c.result->exit_code == 1 || c.result->signal == SIGKILL)
      << c.out << " exit " << c.result->exit_code << " signal " << c.result->signal;
  EXPECT_NE(c.out, "allocated=256\n") << "256 MiB under a 64 MiB limit (layer "
                                      << LimitLayerName(SharedSandbox().limits().layer) << ")";
}

TEST_F(AttackTest, ShellForkBombIsBoundedAndTornDown) {
  Spec spec = ShellSpec(rootfs_, "f() { f | f & }; f; sleep 30");
  spec.pids_max = 64;
  spec.timeout = absl::Seconds(2);
  spec.kill_grace = absl::Milliseconds(200);
  absl::Time t0 = absl::Now();
  Captured c = RunCaptured(spec);
  ASSERT_TRUE(c.result.ok()) << c.result.status();
  EXPECT_TRUE(c.result->timed_out);
  EXPECT_LT(absl::Now() - t0, absl::Seconds(15));
}

}  // namespace
}  // namespace kiln::sandbox
