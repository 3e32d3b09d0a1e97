// The run's pid 1 is kiln-init, exec'd from a sealed memfd (sandbox/init/kiln_init.cc), not a
// fork of the process that owns the Sandbox: its name, size, fds and state as seen from the run,
// what the run cannot read of it, zombie reaping, signal forwarding and exit codes.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "sandbox/init_image.h"
#include "sandbox/init_memfd.h"
#include "sandbox/sandbox.h"
#include "tests/sandbox/rootfs_fixture.h"

namespace kiln::sandbox {
namespace {

using testing::BusyboxRootfs;
using testing::Captured;
using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using ::testing::Not;
using testing::RunCaptured;
using testing::SharedSandbox;
using testing::ShellSpec;

using InitTest = testing::RunTest;

TEST(InitMemfdTest, IsSealedReadOnlyElf) {
  auto fd = internal::MakeInitMemfd();
  ASSERT_TRUE(fd.ok()) << fd.status();
  struct stat st;
  ASSERT_EQ(::fstat(fd->get(), &st), 0);
  EXPECT_EQ(static_cast<size_t>(st.st_size), internal::kInitImageSize);
  EXPECT_LT(st.st_size, 16 * 1024);
  EXPECT_EQ(st.st_mode & 07777, 0555u);
  int seals = ::fcntl(fd->get(), F_GET_SEALS);
  ASSERT_GE(seals, 0);
  for (int s : {F_SEAL_WRITE, F_SEAL_GROW, F_SEAL_SHRINK, F_SEAL_SEAL}) {
    EXPECT_NE(seals & s, 0) << "seal " << s << " missing from " << seals;
  }
  EXPECT_NE(::fcntl(fd->get(), F_GETFD) & FD_CLOEXEC, 0);
  char magic[4] = {};
  ASSERT_EQ(::pread(fd->get(), magic, 4, 0), 4);
  EXPECT_EQ(std::string(magic, 4),
            "\x7f"
            "ELF");
  EXPECT_EQ(::pwrite(fd->get(), "x", 1, 0), -1) << "the memfd must not be writable";
}

// Fails on the old code: pid 1 was a fork of the test binary ("sandbox_test").
TEST_F(InitTest, Pid1IsKilnInit) {
  Captured c =
      Sh("cat /proc/1/comm; tr '\\0' ' ' </proc/1/cmdline; echo; grep '^PPid:' /proc/$$/status; "
         "ps -o pid,comm");
  ASSERT_TRUE(c.result.ok()) << c.result.status();
  EXPECT_EQ(c.result->exit_code, 0) << c.err;
  std::vector<std::string> lines = absl::StrSplit(c.out, '\n');
  ASSERT_GE(lines.size(), 4u) << c.out;
  EXPECT_EQ(lines[0], "kiln-init");
  EXPECT_EQ(lines[1], "kiln-init ");
  EXPECT_THAT(lines[2], MatchesRegex("PPid:[ \t]+1"));
  EXPECT_THAT(c.out, MatchesRegex("(.|\n)*\n *1 +kiln-init\n(.|\n)*")) << c.out;
  EXPECT_THAT(c.out, Not(HasSubstr("sandbox"))) << c.out;
}

// A guard (the old forked init was non-dumpable too): without CAP_SYS_PTRACE the run cannot
// read pid 1's exe, fd links or environment; it only sees that fd 3 exists.
TEST_F(InitTest, RunCannotInspectPid1) {
  Captured c =
      Sh("readlink /proc/1/exe && echo EXE-READABLE; readlink /proc/1/fd/3 && echo FD-READABLE; "
         "cat /proc/1/environ && echo ENV-READABLE; ls /proc/1/fd; "
         "grep -E '^(NoNewPrivs|Seccomp):' /proc/1/status");
  ASSERT_TRUE(c.result.ok()) << c.result.status();
  EXPECT_THAT(c.out, Not(HasSubstr("READABLE"))) << c.out;
  EXPECT_THAT(c.out, Not(HasSubstr("KILN_INIT_WORKER"))) << c.out;
  EXPECT_THAT(c.out, MatchesRegex("3\nNoNewPrivs:[ \t]+0\nSeccomp:[ \t]+0\n")) << c.out;
}

// Fails on the old code: /proc/1/exe was the test binary (megabytes) with stdio open.
TEST_F(InitTest, Pid1IsSmallAndHoldsOnlyTheReportPipe) {
  auto caps = CapabilitySet::DockerDefault().Names();
  caps.push_back("sys_ptrace");
  SandboxOptions options;
  auto set = CapabilitySet::FromNames(caps);
  ASSERT_TRUE(set.ok()) << set.status();
  options.capabilities = *set;
  auto sb = Sandbox::Create(std::move(options));
  ASSERT_TRUE(sb.ok()) << sb.status();
  Spec spec = ShellSpec(rootfs_,
                        "readlink /proc/1/exe; stat -L -c %s /proc/1/exe; "
                        "for f in /proc/1/fd/*; do echo \"${f##*/} $(readlink $f)\"; done; "
                        "tr '\\0' '\\n' </proc/1/environ");
  Captured c;
  spec.on_stdout = [&c](std::string_view s) { c.out.append(s); };
  spec.on_stderr = [&c](std::string_view s) { c.err.append(s); };
  c.result = (*sb)->Run(spec);
  ASSERT_TRUE(c.result.ok()) << c.result.status();
  EXPECT_EQ(c.result->exit_code, 0) << c.err;
  std::vector<std::string> lines = absl::StrSplit(c.out, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 4u) << c.out << c.err;
  EXPECT_EQ(lines[0], "/memfd:kiln-init (deleted)");
  int size = 0;
  ASSERT_TRUE(absl::SimpleAtoi(lines[1], &size)) << lines[1];
  EXPECT_GT(size, 0);
  EXPECT_LT(size, 16 * 1024);
  EXPECT_THAT(lines[2], MatchesRegex("3 pipe:\\[[0-9]+\\]"));
  EXPECT_EQ(lines[3], "KILN_INIT_WORKER=2");
}

// kiln-init is exec'd from its fd, so it needs no /proc: a tmpfs over /proc does not matter.
TEST_F(InitTest, StartsWithATmpfsHidingProc) {
  Spec spec = ShellSpec(rootfs_, "ls -A /proc | wc -l; echo ran");
  spec.mounts = {{base::Mount{"tmpfs", "tmpfs", {"size=1m"}}, "/proc"}};
  Captured c = RunCaptured(spec);
  ASSERT_TRUE(c.result.ok()) << c.result.status();
  EXPECT_EQ(c.result->exit_code, 0) << c.err;
  EXPECT_THAT(c.out, MatchesRegex(" *0\nran\n")) << c.out;
}

TEST_F(InitTest, ReapsOrphans) {
  Captured c =
      Sh("for i in $(seq 20); do (sleep 2 &); done; "
         "grep -l '^PPid:[[:space:]]*1$' /proc/[0-9]*/status | wc -l; sleep 3.5; "
         "grep -l '^State:[[:space:]]*Z' /proc/[0-9]*/status | wc -l; "
         "grep -l '^PPid:[[:space:]]*1$' /proc/[0-9]*/status | wc -l");
  ASSERT_TRUE(c.result.ok()) << c.result.status();
  EXPECT_EQ(c.result->exit_code, 0) << c.err;
  // 20 orphans plus the shell itself; then no zombie, and only the shell left under pid 1.
  EXPECT_THAT(c.out, MatchesRegex(" *21\n *0\n *1\n")) << c.out;
}

TEST_F(InitTest, SignalToPid1ReachesTheWorker) {
  Captured c =
      Sh("trap 'echo got USR2; exit 7' USR2; kill -USR2 1; "
         "i=0; while [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done; exit 1");
  ASSERT_TRUE(c.result.ok()) << c.result.status();
  EXPECT_EQ(c.result->exit_code, 7) << c.out << c.err;
  EXPECT_EQ(c.out, "got USR2\n");
}

TEST_F(InitTest, ExitCodesComeThrough) {
  for (int code : {0, 1, 42, 255}) {
    Captured c = Sh(absl::StrCat("exit ", code));
    ASSERT_TRUE(c.result.ok()) << c.result.status();
    EXPECT_EQ(c.result->exit_code, code);
    EXPECT_EQ(c.result->signal, 0);
  }
}

}  // namespace
}  // namespace kiln::sandbox
