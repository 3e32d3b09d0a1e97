// Sandbox behaviour on a real busybox rootfs: output, exit codes, env, cwd, users, timeout,
// cancel, mounts, lock-down state, and no leftover mounts or processes after every test.
#include "sandbox/sandbox.h"

#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "base/userns.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/sandbox/rootfs_fixture.h"

namespace kiln::sandbox {
namespace {

using testing::BusyboxRootfs;
using testing::Captured;
using ::testing::HasSubstr;
using testing::RunCaptured;
using testing::SharedSandbox;
using testing::ShellSpec;

std::string HostUser() {
  passwd* pw = ::getpwuid(::geteuid());
  return pw != nullptr ? pw->pw_name : "";
}

bool FullMapping() { return SharedSandbox().id_mapping().mapped_uids >= 65536; }

using SandboxTest = testing::RunTest;

TEST(IdMappingTest, MatchesWhoRunsTheTest) {
  const IdMapping& m = SharedSandbox().id_mapping();
  if (base::InUserNamespace()) {  // sandbox_nested_test, after EnterRootlessNamespace
    EXPECT_EQ(m.mode, IdMappingMode::kNested);
    EXPECT_EQ(m.mapped_uids, base::MappedUidCount());
    EXPECT_TRUE(m.mapped_uids >= 65536 || m.mapped_uids == 1) << m.uid_map;
  } else if (::geteuid() == 0) {
    EXPECT_EQ(m.mode, IdMappingMode::kRootIdentity);
    EXPECT_EQ(m.mapped_uids, 65536u);
  } else if (HostUser() == "kiln-test") {
    EXPECT_EQ(m.mode, IdMappingMode::kSubordinateRange);
    EXPECT_EQ(m.mapped_uids, 65536u);
  } else if (HostUser() == "kiln-nosub") {
    EXPECT_EQ(m.mode, IdMappingMode::kSingleId);
    EXPECT_EQ(m.mapped_uids, 1u);
    EXPECT_THAT(m.note, HasSubstr("/etc/sub"));
  } else {
    FAIL() << "run as root, kiln-test or kiln-nosub, not '" << HostUser() << "'";
  }
}

TEST_F(SandboxTest, EchoAndExitCode) {
  Captured c = Sh("echo hello; echo oops >&2; exit 3");
  ASSERT_TRUE(c.result.ok()) << c.result.status();
  EXPECT_EQ(c.result->exit_code, 3);
  EXPECT_EQ(c.result->signal, 0);
  EXPECT_EQ(c.out, "hello\n");
  EXPECT_EQ(c.err, "oops\n");
  EXPECT_FALSE(c.result->timed_out);
}

TEST_F(SandboxTest, KilledBySignalIsReported) {
  Captured c = Sh("kill -USR1 $$; sleep 5");
  ASSERT_TRUE(c.result.ok()) << c.result.status();
  EXPECT_EQ(c.result->signal, SIGUSR1);
}

TEST_F(SandboxTest, IdShowsRootInside) {
  Captured c = Sh("id -u; id -g; id -un");
  ASSERT_TRUE(c.result.ok()) << c.result.status();
  EXPECT_EQ(c.out, "0\n0\nroot\n");
}

TEST_F(SandboxTest, EnvIsExactlyTheSpecEnv) {
  Spec spec = ShellSpec(rootfs_, "env | sort");
  spec.env = {"PATH=/bin", "FOO=bar baz", "EMPTY="};
  Captured c = RunCaptured(spec);
  ASSERT_TRUE(c.result.ok()) << c.result.status();
  EXPECT_EQ(c.out, "EMPTY=\nFOO=bar baz\nPATH=/bin\nPWD=/\nSHLVL=1\n");
}

TEST_F(SandboxTest, CommandIsLookedUpInSpecPath) {
  Spec spec;
  spec.argv = {"echo", "found"};
  spec.env = {"PATH=/nope:/bin"};
  spec.rootfs = {rootfs_.BindMount()};
  Captured c = RunCaptured(spec);
  ASSERT_TRUE(c.result.ok()) << c.result.status();
  EXPECT_EQ(c.out, "found\n");
  spec.argv = {"no-such-command"};
  c = RunCaptured(spec);
  EXPECT_EQ(c.result.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(c.err, "") << "the sandbox itself must not write to the run's stderr";
  EXPECT_THAT(c.result.status().message(), HasSubstr("no-such-command"));
}

TEST_F(SandboxTest, CwdIsCreatedInsideTheRootfs) {
  Spec spec = ShellSpec(rootfs_, "pwd; ls -ld .");
  spec.cwd = "/work/deep/dir";
  Captured c = RunCaptured(spec);
  ASSERT_TRUE(c.result.ok()) << c.result.status();
  EXPECT_THAT(c.out, ::testing::StartsWith("/work/deep/dir\n"));
  struct stat st;
  EXPECT_EQ(::stat((rootfs_.root + "/work/deep/dir").c_str(), &st), 0);
}

TEST_F(SandboxTest, SymlinkWorkdirCannotLeaveTheRootfs) {
  // A marker next to the rootfs on the host, and links that point far above the root.
  ASSERT_EQ(::symlink("../../../../../../..", (rootfs_.root + "/up").c_str()), 0);
  ASSERT_EQ(::symlink("/../../../../..", (rootfs_.root + "/abs").c_str()), 0);
  std::ofstream(rootfs_.dir.path() + "/host-marker") << "secret";
  for (const char* cwd : {"/up", "/abs", "/up/up/abs"}) {
    Spec spec = ShellSpec(rootfs_, "ls -a; cat ../host-marker ../../host-marker 2>/dev/null");
    spec.cwd = cwd;
    Captured c = RunCaptured(spec);
    ASSERT_TRUE(c.result.ok()) << c.result.status();
    EXPECT_THAT(c.out, HasSubstr("bin\n")) << cwd << " should be the container's root";
    EXPECT_THAT(c.out, ::testing::Not(HasSubstr("host-marker"))) << cwd;
    EXPECT_THAT(c.out, ::testing::Not(HasSubstr("secret"))) << cwd;
    EXPECT_THAT(c.out, ::testing::Not(HasSubstr("rootfs"))) << cwd;
  }
}

TEST_F(SandboxTest, UserNobodyNeedsARange) {
  Spec spec = ShellSpec(rootfs_, "id -u; id -g; touch /tmp/x && stat -c %u /tmp/x");
  spec.user = "nobody";
  Captured c = RunCaptured(spec);
  if (FullMapping()) {
    ASSERT_TRUE(c.result.ok()) << c.result.status();
    EXPECT_EQ(c.out, "65534\n65534\n65534\n");
  } else {
    EXPECT_EQ(c.result.status().code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_THAT(c.result.status().message(), HasSubstr("subordinate id range is missing"));
    EXPECT_THAT(c.result.status().message(), HasSubstr("usermod --add-subuids"));
  }
}

TEST_F(SandboxTest, UserFormsAndSupplementaryGroups) {
  if (!FullMapping()) {
    Spec spec = ShellSpec(rootfs_, "id");
    spec.user = "1000:1000";
    EXPECT_EQ(RunCaptured(spec).result.status().code(), absl::StatusCode::kFailedPrecondition);
    spec.user = "root:root";
    Captured c = RunCaptured(spec);
    ASSERT_TRUE(c.result.ok()) << c.result.status();
    // setgroups is denied: the inherited group list stays (the host group, mapped to 0).
    EXPECT_EQ(c.out, "uid=0(root) gid=0(root) groups=0(root)\n");
    return;
  }
  struct Case {
    const char* user;
    const char* want;
  } cases[] = {
      {"app", "uid=1000(app) gid=1000(app) groups=10(wheel),50(staff),1000(app)\n"},
      {"1000", "uid=1000(app) gid=1000(app) groups=10(wheel),50(staff),1000(app)\n"},
      {"app:staff", "uid=1000(app) gid=50(staff) groups=50(staff)\n"},
      {"1234:5678", "uid=1234 gid=5678 groups=5678\n"},
      {"app:0", "uid=1000(app) gid=0(root) groups=0(root)\n"},
      {"", "uid=0(root) gid=0(root) groups=0(root),10(wheel)\n"},
  };
  for (const Case& k : cases) {
    Spec spec = ShellSpec(rootfs_, "id");
    spec.user = k.user;
    Captured c = RunCaptured(spec);
    ASSERT_TRUE(c.result.ok()) << k.user << ": " << c.result.status();
    EXPECT_EQ(c.out, k.want) << k.user;
  }
}

TEST_F(SandboxTest, UnknownUserOrGroupIsNotFound) {
  Spec spec = ShellSpec(rootfs_, "id");
  spec.user = "ghost";
  Captured c = RunCaptured(spec);
  EXPECT_EQ(c.result.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(c.result.status().message(), HasSubstr("'ghost'"));
  spec.user = "root:ghosts";
  c = RunCaptured(spec);
  EXPECT_EQ(c.result.status().code(), absl::StatusCode::kNotFound);
  spec.user = "root:";
  EXPECT_EQ(RunCaptured(spec).result.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(SandboxTest, OutputIsStreamedWhileRunning) {
  Spec spec = ShellSpec(rootfs_, "echo first; sleep 1; echo second >&2");
  absl::Time first_at = absl::InfiniteFuture();
  std::string out, err;
  spec.on_stdout = [&](std::string_view s) {
    if (out.empty()) first_at = absl::Now();
    out.append(s);
  };
  spec.on_stderr = [&](std::string_view s) { err.append(s); };
  absl::StatusOr<Result> r = SharedSandbox().Run(spec);
  absl::Time done = absl::Now();
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(out, "first\n");
  EXPECT_EQ(err, "second\n");
  EXPECT_GE(done - first_at, absl::Milliseconds(700)) << "stdout arrived only at the end";
}

TEST_F(SandboxTest, TimeoutSendsTermThenKill) {
  Spec spec = ShellSpec(rootfs_, "sleep 30");
  spec.timeout = absl::Milliseconds(300);
  absl::Time t0 = absl::Now();
  Captured c = RunCaptured(spec);
  ASSERT_TRUE(c.result.ok()) << c.result.status();
  EXPECT_TRUE(c.result->timed_out);
  EXPECT_EQ(c.result->signal, SIGTERM);
  EXPECT_LT(absl::Now() - t0, absl::Seconds(5));

  spec = ShellSpec(rootfs_, "trap '' TERM; sleep 30 & wait; sleep 30");
  spec.timeout = absl::Milliseconds(300);
  spec.kill_grace = absl::Milliseconds(300);
  t0 = absl::Now();
  c = RunCaptured(spec);
  ASSERT_TRUE(c.result.ok()) << c.result.status();
  EXPECT_TRUE(c.result->timed_out);
  EXPECT_EQ(c.result->signal, SIGKILL);
  EXPECT_GE(absl::Now() - t0, absl::Milliseconds(550));
  EXPECT_LT(absl::Now() - t0, absl::Seconds(5));
}

TEST_F(SandboxTest, CancelFromAnotherThread) {
  CancelHandle cancel;
  Spec spec = ShellSpec(rootfs_, "sleep 30 & sleep 30 & wait");
  spec.cancel = &cancel;
  std::thread canceller([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    cancel.Cancel();
  });
  absl::Time t0 = absl::Now();
  Captured c = RunCaptured(spec);
  canceller.join();
  ASSERT_TRUE(c.result.ok()) << c.result.status();
  EXPECT_TRUE(c.result->cancelled);
  EXPECT_FALSE(c.result->timed_out);
  EXPECT_NE(c.result->signal, 0);
  EXPECT_LT(absl::Now() - t0, absl::Seconds(5));
}

TEST_F(SandboxTest, ZombiesAreReapedByInit) {
  // The shell execs into sleep; the orphaned children become zombies of pid 1 unless reaped.
  Captured c =
      Sh("(sleep 0.1 &) ; (sleep 0.1 &); sleep 0.5; "
         "ps -o pid,stat,comm | grep -c ' Z ' || true; echo pid=$$");
  ASSERT_TRUE(c.result.ok()) << c.result.status();
  EXPECT_THAT(c.out, HasSubstr("0\n"));
  EXPECT_THAT(c.out, HasSubstr("pid=2\n")) << "the process should be pid 2 under the init";
}

TEST_F(SandboxTest, LockDownState) {
  Captured c =
      Sh("grep -E '^(Cap(Inh|Prm|Eff|Bnd|Amb)|NoNewPrivs|Seccomp):' /proc/self/status;"
         " umask; ls /proc/self/fd");
  ASSERT_TRUE(c.result.ok()) << c.result.status();
  // Docker's 14 minus NET_RAW (dropped with network none).
  EXPECT_THAT(c.out, HasSubstr("CapEff:\t00000000a80405fb"));
  EXPECT_THAT(c.out, HasSubstr("CapPrm:\t00000000a80405fb"));
  EXPECT_THAT(c.out, HasSubstr("CapBnd:\t00000000a80405fb"));
  EXPECT_THAT(c.out, HasSubstr("CapInh:\t00000000a80405fb"));
  EXPECT_THAT(c.out, HasSubstr("CapAmb:\t0000000000000000"));
  EXPECT_THAT(c.out, HasSubstr("NoNewPrivs:\t1"));
  EXPECT_THAT(c.out, HasSubstr("Seccomp:\t2"));
  EXPECT_THAT(c.out, HasSubstr("0022\n"));
  EXPECT_THAT(c.out, ::testing::EndsWith("0\n1\n2\n3\n"));  // 3 is ls's own directory fd
}

TEST_F(SandboxTest, HostNetworkKeepsNetRaw) {
  Spec spec = ShellSpec(rootfs_, "grep CapEff /proc/self/status; ls /sys | wc -l");
  spec.network = NetworkMode::kHost;
  Captured c = RunCaptured(spec);
  ASSERT_TRUE(c.result.ok()) << c.result.status();
  EXPECT_THAT(c.out, HasSubstr("CapEff:\t00000000a80425fb"));
  EXPECT_THAT(c.out, HasSubstr("\n0\n")) << "/sys is absent (empty) with the host network";
}

TEST_F(SandboxTest, NonRootUserHasNoEffectiveCaps) {
  Spec spec = ShellSpec(rootfs_, "grep -E '^Cap(Eff|Prm|Bnd)' /proc/self/status");
  spec.user = "app";
  Captured c = RunCaptured(spec);
  if (!FullMapping()) {
    EXPECT_EQ(c.result.status().code(), absl::StatusCode::kFailedPrecondition);
    return;
  }
  ASSERT_TRUE(c.result.ok()) << c.result.status();
  EXPECT_EQ(c.out,
            "CapPrm:\t0000000000000000\nCapEff:\t0000000000000000\n"
            "CapBnd:\t00000000a80405fb\n");
}

TEST_F(SandboxTest, SystemMounts) {
  Captured c =
      Sh("hostname; cat /proc/kcore | wc -c; ls /proc/acpi 2>&1 | wc -l;"
         " echo 1 > /proc/sys/kernel/ns_last_pid 2>/dev/null && echo sys-writable;"
         " ls /dev | sort | tr '\\n' ' '; echo; mount | grep -c devpts;"
         " echo x > /etc/resolv.conf 2>/dev/null && echo resolv-writable;"
         " ls /sys/class/net; cat /proc/1/cmdline | wc -c; echo x > /dev/null && echo null-ok");
  ASSERT_TRUE(c.result.ok()) << c.result.status() << c.err;
  EXPECT_THAT(c.out, ::testing::StartsWith("kiln\n0\n0\n"));
  EXPECT_THAT(c.out, ::testing::Not(HasSubstr("writable")));
  EXPECT_THAT(c.out, HasSubstr("core fd full null ptmx pts random shm stderr stdin stdout "
                               "tty urandom zero"));
  EXPECT_THAT(c.out, HasSubstr("\nlo\n"));
  EXPECT_THAT(c.out, HasSubstr("null-ok"));
}

TEST_F(SandboxTest, OverlayRootfsWritesLandInUpper) {
  auto tmp = base::TempDir::Create("kiln-sbovl-");
  ASSERT_TRUE(tmp.ok()) << tmp.status();
  std::string upper = tmp->path() + "/upper", work = tmp->path() + "/work";
  ASSERT_EQ(::mkdir(upper.c_str(), 0755), 0);
  ASSERT_EQ(::mkdir(work.c_str(), 0755), 0);
  Spec spec = ShellSpec(rootfs_, "echo data > /newfile; rm /etc/group; cat /newfile");
  spec.rootfs = {base::Mount{
      "overlay", "overlay", {"lowerdir+=" + rootfs_.root, "upperdir=" + upper, "workdir=" + work}}};
  Captured c = RunCaptured(spec);
  ASSERT_TRUE(c.result.ok()) << c.result.status();
  EXPECT_EQ(c.result->exit_code, 0) << c.err;
  EXPECT_EQ(c.out, "data\n");
  struct stat st;
  EXPECT_EQ(::stat((upper + "/newfile").c_str(), &st), 0) << "write did not land in upper";
  EXPECT_NE(::stat((rootfs_.root + "/newfile").c_str(), &st), 0) << "write leaked into lower";
  EXPECT_EQ(::stat((rootfs_.root + "/etc/group").c_str(), &st), 0);
  EXPECT_EQ(::lstat((upper + "/etc/group").c_str(), &st), 0) << "no whiteout in upper";
}

TEST_F(SandboxTest, ExtraMounts) {
  auto tmp = base::TempDir::Create("kiln-sbmnt-");
  ASSERT_TRUE(tmp.ok()) << tmp.status();
  ::chmod(tmp->path().c_str(), 0755);
  std::ofstream(tmp->path() + "/in") << "from-host";
  Spec spec = ShellSpec(rootfs_,
                        "cat /ro/in; echo x > /ro/new 2>/dev/null && echo ro-writable;"
                        " echo y > /rw/out; echo z > /scratch/t && cat /scratch/t;"
                        " cat /single");
  spec.mounts = {{base::Mount{"bind", tmp->path(), {"ro"}}, "/ro"},
                 {base::Mount{"bind", tmp->path(), {}}, "/rw"},
                 {base::Mount{"tmpfs", "tmpfs", {"size=1m"}}, "/scratch"},
                 {base::Mount{"bind", tmp->path() + "/in", {"ro"}}, "/single"}};
  Captured c = RunCaptured(spec);
  ASSERT_TRUE(c.result.ok()) << c.result.status();
  EXPECT_EQ(c.out, "from-hostz\nfrom-host") << c.err;
  std::ifstream out(tmp->path() + "/out");
  std::string got;
  out >> got;
  EXPECT_EQ(got, "y");
}

TEST_F(SandboxTest, BadMountIsAClearError) {
  Spec spec = ShellSpec(rootfs_, "true");
  spec.mounts = {{base::Mount{"tmpfs", "tmpfs", {"size=bogus"}}, "/x"}};
  Captured c = RunCaptured(spec);
  ASSERT_FALSE(c.result.ok());
  EXPECT_THAT(c.result.status().message(), HasSubstr("mount tmpfs at '/x'"));
  spec.mounts = {};
  spec.cwd = "relative";
  EXPECT_EQ(RunCaptured(spec).result.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(SandboxTest, RlimitsAndHostname) {
  Spec spec = ShellSpec(rootfs_, "ulimit -n; ulimit -Hn; hostname");
  spec.rlimits = {{RLIMIT_NOFILE, 123, 456}};
  spec.hostname = "builder-7";
  Captured c = RunCaptured(spec);
  ASSERT_TRUE(c.result.ok()) << c.result.status();
  EXPECT_EQ(c.out, "123\n456\nbuilder-7\n");
  EXPECT_GE(c.result->usage.user_time + c.result->usage.system_time, absl::ZeroDuration());
  EXPECT_GT(c.result->usage.max_rss_kib, 0);
}

TEST_F(SandboxTest, SandboxRemovesItsStagingDir) {
  auto sb = Sandbox::Create();
  ASSERT_TRUE(sb.ok()) << sb.status();
  std::string staging = (*sb)->staging_dir();
  struct stat st;
  ASSERT_EQ(::stat(staging.c_str(), &st), 0);
  absl::StatusOr<Result> r = (*sb)->Run(ShellSpec(rootfs_, "true"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->exit_code, 0);
  sb->reset();
  EXPECT_NE(::stat(staging.c_str(), &st), 0) << staging << " was left behind";
}

TEST_F(SandboxTest, ConcurrentRuns) {
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] {
      Captured c = Sh(absl::StrCat("echo ", i, "; exit ", i));
      if (c.result.ok() && c.result->exit_code == i && c.out == absl::StrCat(i, "\n")) ++ok;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 4);
}

}  // namespace
}  // namespace kiln::sandbox
