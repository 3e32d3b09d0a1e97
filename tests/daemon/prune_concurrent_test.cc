// `kilnctl prune --all` and `kilnctl du` while `kilnctl build` runs a long RUN, against one real
// kilnd (issue 5, leases): prune and du answer promptly instead of waiting for the build, prune
// frees what the build does not use, and the build completes with its cache intact.
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "base/temp_dir.h"
#include "gtest/gtest.h"
#include "tests/daemon/test_util.h"

namespace kiln::testing {
namespace {

constexpr char kSleepSeconds[] = "14";

std::string ImagesDir() {
  const char* dir = std::getenv("KILN_IMAGES_DIR");
  return dir != nullptr && *dir != '\0' ? dir : "/var/cache/kiln/images";
}

// Field `n` (1-based, after the command name) of /proc/PID/stat, or "".
std::string StatField(pid_t pid, size_t n) {
  std::string stat = ReadFile(absl::StrCat("/proc/", pid, "/stat"));
  size_t close = stat.rfind(')');
  if (close == std::string::npos) return "";
  std::vector<std::string> fields = absl::StrSplit(stat.substr(close + 2), ' ');
  return n <= fields.size() ? fields[n - 1] : "";
}

bool Alive(pid_t pid) {
  std::string state = StatField(pid, 1);
  return !state.empty() && state != "Z";
}

// True if a process running `sleep kSleepSeconds` descends from `ancestor`.
bool SleepingUnder(pid_t ancestor) {
  std::string want =
      absl::StrCat("sleep", std::string(1, '\0'), kSleepSeconds, std::string(1, '\0'));
  DIR* proc = opendir("/proc");
  if (proc == nullptr) return false;
  bool found = false;
  while (struct dirent* e = readdir(proc)) {
    pid_t pid = 0;
    if (found || !absl::SimpleAtoi(e->d_name, &pid)) continue;
    if (ReadFile(absl::StrCat("/proc/", pid, "/cmdline")) != want) continue;
    int p = pid;
    for (int hops = 0; p > 1 && hops < 64 && !found; ++hops) {
      if (!absl::SimpleAtoi(StatField(p, 2), &p)) break;
      found = p == ancestor;
    }
  }
  closedir(proc);
  return found;
}

class PruneConcurrentCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = base::TempDir::Create("kiln-prune-cli-");
    ASSERT_TRUE(dir.ok()) << dir.status();
    dir_ = std::move(*dir);
    addr_ = "unix://" + dir_.path() + "/run/kilnd.sock";
    kilnd_ = Child::Start(
        {KilndPath(), "--addr", addr_, "--root", dir_.path() + "/state", "--config", "/dev/null"});
    ASSERT_GT(kilnd_.pid(), 0) << "cannot start " << KilndPath();
    std::string busybox = ImagesDir() + "/busybox-1.35";
    ASSERT_EQ(access(busybox.c_str(), R_OK), 0) << busybox << " missing: run tools/images/build.sh";
    // The first command also waits for the daemon to come up.
    absl::Time deadline = absl::Now() + absl::Seconds(60);
    ProcessResult imported;
    do {
      imported = testing::Run(Kilnctl({"image", "import", busybox, "--name", "busybox:1.35"}));
    } while (imported.exit_code != 0 && absl::Now() < deadline &&
             (absl::SleepFor(absl::Milliseconds(100)), true));
    ASSERT_EQ(imported.exit_code, 0) << imported.err;
  }

  void TearDown() override {
    if (kilnd_.pid() > 0) {
      kill(kilnd_.pid(), SIGTERM);
      ProcessResult done = kilnd_.Wait(absl::Seconds(60));
      EXPECT_EQ(done.exit_code, 0) << done.err;
    }
  }

  std::vector<std::string> Kilnctl(std::vector<std::string> args) {
    std::vector<std::string> argv = {KilnctlPath(), args[0], "--addr", addr_};
    argv.insert(argv.end(), args.begin() + 1, args.end());
    return argv;
  }

  std::string Context(const std::string& name, const std::string& dockerfile) {
    std::string ctx = dir_.path() + "/" + name;
    EXPECT_EQ(mkdir(ctx.c_str(), 0755), 0);
    WriteFile(ctx + "/Dockerfile", dockerfile);
    return ctx;
  }

  base::TempDir dir_;
  std::string addr_;
  Child kilnd_;
};

TEST_F(PruneConcurrentCliTest, PruneAndDuAnswerWhileABuildRunsALongStep) {
  std::string unrelated = Context("unrelated", "FROM busybox:1.35\nRUN echo unrelated > /u\n");
  ProcessResult first =
      testing::Run(Kilnctl({"build", "--progress", "plain", unrelated}), {}, absl::Seconds(300));
  ASSERT_EQ(first.exit_code, 0) << first.err;

  std::string slow = Context("slow", absl::StrCat("FROM busybox:1.35\nRUN echo a > /a\nRUN sleep ",
                                                  kSleepSeconds, "\nRUN echo done > /b\n"));
  Child build = Child::Start(Kilnctl({"build", "--progress", "plain", "-t", "lease/cli:1", slow}));
  absl::Time deadline = absl::Now() + absl::Seconds(240);  // ASan on a loaded machine
  while (!SleepingUnder(kilnd_.pid()) && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(50));
  }
  ASSERT_TRUE(SleepingUnder(kilnd_.pid())) << "the RUN sleep never started under kilnd";

  absl::Time t0 = absl::Now();
  Child du = Child::Start(Kilnctl({"du", "-v"}));
  ProcessResult pruned = testing::Run(Kilnctl({"prune", "--all"}), {}, absl::Seconds(60));
  ProcessResult usage = du.Wait(absl::Seconds(60));
  absl::Duration took = absl::Now() - t0;
  bool build_running = Alive(build.pid()) && SleepingUnder(kilnd_.pid());
  std::printf("kilnctl prune --all + du -v during RUN sleep %s: %s\n", kSleepSeconds,
              absl::FormatDuration(took).c_str());
  EXPECT_EQ(pruned.exit_code, 0) << pruned.err;
  EXPECT_EQ(usage.exit_code, 0) << usage.err;
  EXPECT_TRUE(build_running) << "prune and du returned only after the build (" << took << ")";
  EXPECT_LT(took, absl::Seconds(7)) << "prune/du waited for the running build";
  EXPECT_TRUE(absl::StrContains(pruned.out, "Removed ")) << pruned.out;
  EXPECT_FALSE(absl::StrContains(pruned.out, "Removed 0 records")) << pruned.out;
  EXPECT_TRUE(absl::StrContains(usage.out, "In use:\t\ttrue"))
      << "du shows the running build's records as in use:\n"
      << usage.out;

  ProcessResult built = build.Wait(absl::Seconds(300));
  ASSERT_EQ(built.exit_code, 0) << built.err;
  ProcessResult again = testing::Run(
      Kilnctl({"build", "--progress", "plain", "-t", "lease/cli:1", slow}), {}, absl::Seconds(300));
  ASSERT_EQ(again.exit_code, 0) << again.err;
  for (const char* step : {"RUN echo a", "RUN sleep", "RUN echo done"}) {
    bool cached = false;
    for (absl::string_view line : absl::StrSplit(again.err, '\n')) {
      if (absl::StrContains(line, step)) {
        // "#N [k/n] RUN ..." then later "#N CACHED": find the step number's CACHED line.
        std::string num(line.substr(0, line.find(' ')));
        cached = absl::StrContains(again.err, num + " CACHED");
        break;
      }
    }
    EXPECT_TRUE(cached) << step << " ran again after the concurrent prune:\n" << again.err;
  }
  ProcessResult listed = testing::Run(Kilnctl({"image", "ls"}));
  EXPECT_TRUE(absl::StrContains(listed.out, "lease/cli:1")) << listed.out;
}

}  // namespace
}  // namespace kiln::testing
