// The real kilnd binary as a process: Health/Info/DiskUsage/ImageList (no builds), SIGTERM,
// kill -9 and restart, the root lock, and a rootless daemon auto-started by kilnctl.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/strip.h"
#include "base/temp_dir.h"
#include "engine/daemon/socket.h"
#include "gtest/gtest.h"
#include "tests/daemon/test_util.h"
#include "tools/kilnctl/client.h"

namespace kiln::engine::daemon {
namespace {

using ::kiln::testing::Child;
using ::kiln::testing::KilndPath;
using ::kiln::testing::KilnctlPath;

bool WaitForSocket(const std::string& path, absl::Duration timeout) {
  absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    if (ConnectUnixSocket(path).ok()) return true;
    absl::SleepFor(absl::Milliseconds(20));
  }
  return false;
}

bool WaitForExit(pid_t pid, absl::Duration timeout) {
  absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    if (kill(pid, 0) != 0 && errno == ESRCH) return true;
    std::string stat = testing::ReadFile(absl::StrCat("/proc/", pid, "/stat"));
    if (absl::StrContains(stat, ") Z ")) return true;  // zombie of someone else
    absl::SleepFor(absl::Milliseconds(20));
  }
  return false;
}

class KilndProcessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = base::TempDir::Create("kiln-kilnd-");
    ASSERT_TRUE(dir.ok());
    dir_ = std::move(*dir);
    socket_ = dir_.path() + "/run/kilnd.sock";
    root_ = dir_.path() + "/state";
  }
  Child StartKilnd(const std::string& socket, const std::string& root) {
    return Child::Start({KilndPath(), "--addr", "unix://" + socket, "--root", root, "--config",
                         "/dev/null"});
  }

  base::TempDir dir_;
  std::string socket_;
  std::string root_;
};

TEST_F(KilndProcessTest, ServesManagementCallsAndStopsGracefullyOnSigterm) {
  Child kilnd = StartKilnd(socket_, root_);
  ASSERT_TRUE(WaitForSocket(socket_, absl::Seconds(30))) << kilnd.Wait(absl::Seconds(1)).err;
  auto client = tools::DaemonClient::Connect(tools::ClientOptions{"unix://" + socket_});
  ASSERT_TRUE(client.ok()) << client.status();
  EXPECT_TRUE((*client)->Health(absl::Seconds(5)).ok());
  auto info = (*client)->Info();
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->pid(), kilnd.pid());
  EXPECT_EQ(info->root(), root_);
  EXPECT_TRUE((*client)->ImageList().ok());
  auto du = testing::Run({KilnctlPath(), "du", "--addr", "unix://" + socket_});
  EXPECT_EQ(du.exit_code, 0) << du.err;
  EXPECT_TRUE(absl::StrContains(du.out, "Total:")) << du.out;
  EXPECT_TRUE(absl::StrContains(testing::ReadFile(root_ + "/kilnd.lock"),
                                absl::StrCat(kilnd.pid())));
  ASSERT_EQ(kill(kilnd.pid(), SIGTERM), 0);
  auto done = kilnd.Wait(absl::Seconds(30));
  EXPECT_EQ(done.exit_code, 0) << done.err;
  EXPECT_TRUE(absl::StrContains(done.err, "shutting down")) << done.err;
  struct stat st;
  EXPECT_NE(lstat(socket_.c_str(), &st), 0) << "socket left behind after SIGTERM";
}

// buildctl takes --addr before the command; kilnctl accepts it there, after the command, or
// from $KILN_HOST. An explicit address with nothing behind it is an error (no auto-start).
TEST_F(KilndProcessTest, AddressBeforeTheCommandOrInKilnHost) {
  Child kilnd = StartKilnd(socket_, root_);
  ASSERT_TRUE(WaitForSocket(socket_, absl::Seconds(30))) << kilnd.Wait(absl::Seconds(1)).err;
  std::string addr = "unix://" + socket_;
  auto global = testing::Run({KilnctlPath(), "--addr", addr, "du"});
  EXPECT_EQ(global.exit_code, 0) << global.err;
  EXPECT_TRUE(absl::StrContains(global.out, "Total:")) << global.out;
  auto images = testing::Run({KilnctlPath(), "--addr=" + addr, "image", "ls"});
  EXPECT_EQ(images.exit_code, 0) << images.err;
  auto env = testing::Run({KilnctlPath(), "du"}, {"KILN_HOST=" + addr});
  EXPECT_EQ(env.exit_code, 0) << env.err;
  EXPECT_TRUE(absl::StrContains(env.out, "Total:")) << env.out;

  std::string none = "unix://" + dir_.path() + "/nobody-here.sock";
  auto missing = testing::Run({KilnctlPath(), "--addr", none, "du"});
  EXPECT_NE(missing.exit_code, 0);
  EXPECT_TRUE(absl::StrContains(missing.err, "start one with")) << missing.err;
  // The command's own --addr wins over the global one and over $KILN_HOST.
  auto wins = testing::Run({KilnctlPath(), "--addr", none, "du", "--addr", addr},
                           {"KILN_HOST=" + none});
  EXPECT_EQ(wins.exit_code, 0) << wins.err;
  ASSERT_EQ(kill(kilnd.pid(), SIGTERM), 0);
  EXPECT_EQ(kilnd.Wait(absl::Seconds(30)).exit_code, 0);
}

TEST_F(KilndProcessTest, RestartsAfterKillDashNine) {
  {
    Child kilnd = StartKilnd(socket_, root_);
    ASSERT_TRUE(WaitForSocket(socket_, absl::Seconds(30))) << kilnd.Wait(absl::Seconds(1)).err;
    ASSERT_EQ(kill(kilnd.pid(), SIGKILL), 0);
    kilnd.Wait();
  }
  struct stat st;
  ASSERT_EQ(lstat(socket_.c_str(), &st), 0) << "expected a stale socket after kill -9";
  Child again = StartKilnd(socket_, root_);
  ASSERT_TRUE(WaitForSocket(socket_, absl::Seconds(30))) << again.Wait(absl::Seconds(1)).err;
  auto du = testing::Run({KilnctlPath(), "du", "--addr", "unix://" + socket_});
  EXPECT_EQ(du.exit_code, 0) << du.err;
  kill(again.pid(), SIGTERM);
  EXPECT_EQ(again.Wait(absl::Seconds(30)).exit_code, 0);
}

TEST_F(KilndProcessTest, SecondDaemonOnTheSameRootIsRefused) {
  Child first = StartKilnd(socket_, root_);
  ASSERT_TRUE(WaitForSocket(socket_, absl::Seconds(30))) << first.Wait(absl::Seconds(1)).err;
  auto second = StartKilnd(dir_.path() + "/other.sock", root_).Wait(absl::Seconds(30));
  EXPECT_EQ(second.exit_code, 1);
  EXPECT_TRUE(absl::StrContains(second.err, absl::StrCat("another kilnd (pid ", first.pid())))
      << second.err;
  auto same_socket = StartKilnd(socket_, dir_.path() + "/state2").Wait(absl::Seconds(30));
  EXPECT_EQ(same_socket.exit_code, 1);
  EXPECT_TRUE(absl::StrContains(same_socket.err, "already listening")) << same_socket.err;
  kill(first.pid(), SIGTERM);
  EXPECT_EQ(first.Wait(absl::Seconds(30)).exit_code, 0);
}

TEST_F(KilndProcessTest, RootlessDaemonIsAutoStartedByKilnctl) {
  ASSERT_EQ(geteuid(), 0u) << "this test must run as root (it switches to kiln-test)";
  testing::TestUser user = testing::LookupUser("kiln-test");
  ASSERT_TRUE(user.found) << "user kiln-test is missing; run tools/setup-test-user.sh";
  ASSERT_EQ(chmod(dir_.path().c_str(), 0711), 0);
  std::string home = dir_.path() + "/home";
  std::string run = dir_.path() + "/xdg-run";
  for (const std::string& d : {home, run}) {
    ASSERT_EQ(mkdir(d.c_str(), 0700), 0);
    ASSERT_EQ(chown(d.c_str(), user.uid, user.gid), 0);
  }
  std::vector<std::string> env = {"HOME=" + home, "XDG_RUNTIME_DIR=" + run,
                                  "KILN_KILND=" + KilndPath()};
  auto first = testing::Run(testing::AsUser(user, env, {KilnctlPath(), "du"}),
                            {}, absl::Seconds(60));
  std::string log = testing::ReadFile(home + "/.local/share/kiln/kilnd.log");
  ASSERT_EQ(first.exit_code, 0) << first.err << "\nkilnd log:\n" << log;
  std::string socket = run + "/kiln/kilnd.sock";
  struct stat st;
  ASSERT_EQ(stat(socket.c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, user.uid);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  int pid = 0;
  ASSERT_TRUE(absl::SimpleAtoi(
      absl::StripAsciiWhitespace(testing::ReadFile(home + "/.local/share/kiln/kilnd.lock")),
      &pid));
  std::string status = testing::ReadFile(absl::StrCat("/proc/", pid, "/status"));
  EXPECT_TRUE(absl::StrContains(status, absl::StrCat("Uid:\t", user.uid))) << status;
  char ours[64] = {}, theirs[64] = {};
  ASSERT_GT(readlink("/proc/self/ns/user", ours, sizeof(ours) - 1), 0);
  ASSERT_GT(readlink(absl::StrCat("/proc/", pid, "/ns/user").c_str(), theirs, sizeof(theirs) - 1),
            0);
  EXPECT_STRNE(ours, theirs) << "kilnd did not enter its own user namespace";
  // A second kilnctl reuses the running daemon.
  auto second = testing::Run(testing::AsUser(user, env, {KilnctlPath(), "du"}));
  EXPECT_EQ(second.exit_code, 0) << second.err;
  EXPECT_EQ(testing::ReadFile(home + "/.local/share/kiln/kilnd.lock"),
            absl::StrCat(pid, "\n"));
  ASSERT_EQ(kill(pid, SIGTERM), 0);
  ASSERT_TRUE(WaitForExit(pid, absl::Seconds(30)));
  EXPECT_NE(lstat(socket.c_str(), &st), 0) << "socket left behind";
  EXPECT_TRUE(absl::StrContains(testing::ReadFile(home + "/.local/share/kiln/kilnd.log"),
                                "shutting down"));
}

// `kilnctl debug workers` asks kilnd: it prints the daemon's worker (its root, its configured
// parallelism and default network), not facts probed in the client. The kilnctl run is a copy
// alone in an empty dir (no kilnctl-local next to it to hand the command to), and the binary
// holds no sandbox code at all.
TEST_F(KilndProcessTest, DebugWorkersPrintsTheDaemonsWorker) {
  std::string config = dir_.path() + "/kilnd.toml";
  testing::WriteFile(config, "max-parallelism = 3\ndefault-network = \"none\"\n");
  Child kilnd = Child::Start(
      {KilndPath(), "--addr", "unix://" + socket_, "--root", root_, "--config", config});
  ASSERT_TRUE(WaitForSocket(socket_, absl::Seconds(30))) << kilnd.Wait(absl::Seconds(1)).err;
  std::string bin = dir_.path() + "/bin";
  ASSERT_EQ(mkdir(bin.c_str(), 0755), 0);
  auto cp = testing::Run({"cp", KilnctlPath(), bin + "/kilnctl"});
  ASSERT_EQ(cp.exit_code, 0) << cp.err;
  auto run = testing::Run({bin + "/kilnctl", "debug", "workers", "--addr", "unix://" + socket_});
  EXPECT_EQ(run.exit_code, 0) << run.out << run.err;
  EXPECT_TRUE(absl::StrContains(run.out, absl::StrCat("worker: kilnd (pid ", kilnd.pid())))
      << run.out;
  EXPECT_TRUE(absl::StrContains(run.out, "  root:         " + root_ + "\n")) << run.out;
  EXPECT_TRUE(absl::StrContains(run.out, "  parallelism:  3\n")) << run.out;
  EXPECT_TRUE(absl::StrContains(run.out, "; default none\n")) << run.out;
  EXPECT_TRUE(absl::StrContains(run.out, "  self-test:    ok\n")) << run.out;
  auto nm = testing::Run({"nm", "-C", KilnctlPath()});
  ASSERT_EQ(nm.exit_code, 0) << nm.err;
  EXPECT_FALSE(absl::StrContains(nm.out, "kiln::sandbox::"))
      << "kilnctl links sandbox code; debug workers must ask the daemon";
  ASSERT_EQ(kill(kilnd.pid(), SIGTERM), 0);
  EXPECT_EQ(kilnd.Wait(absl::Seconds(30)).exit_code, 0);
}

}  // namespace
}  // namespace kiln::engine::daemon
