// The shared examples built exactly as written (FROM golang:1.19, FROM busybox:1.35) with their
// base images served only by a loopback registry configured as docker.io's mirror in kilnd's
// config ([registry."docker.io"] mirrors = [...]). A seeding daemon imports the base images
// from tools/images/build.sh's layouts and pushes them to the registry; the building daemon
// starts empty. Then the registry stops, and a no-op rebuild and a one-file change still build.
#include <signal.h>
#include <sys/stat.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "base/temp_dir.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/daemon/test_util.h"
#include "tests/registry/test_registry.h"

namespace kiln::testing {
namespace {

using ::testing::HasSubstr;

std::string ImagesDir() {
  const char* dir = std::getenv("KILN_IMAGES_DIR");
  return dir != nullptr && *dir != '\0' ? dir : "/var/cache/kiln/images";
}

std::string ExamplesDir() {
  const char* dir = std::getenv("KILN_SHARED_DIR");
  return absl::StrCat(dir != nullptr && *dir != '\0' ? dir : "/work/shared", "/examples");
}

class MirrorExamplesTest : public ::testing::Test {
 protected:
  struct Daemon {
    std::string addr;
    Child child;
  };

  void SetUp() override {
    auto dir = base::TempDir::Create("kiln-registry-mirror-");
    ASSERT_TRUE(dir.ok()) << dir.status();
    dir_ = std::move(*dir);
    auto reg = tests::TestRegistry::Start();
    ASSERT_TRUE(reg.ok()) << reg.status();
    reg_ = std::move(*reg);
    for (const char* name : {"LSAN_OPTIONS", "ASAN_OPTIONS", "UBSAN_OPTIONS"}) {
      if (const char* v = std::getenv(name)) env_.push_back(absl::StrCat(name, "=", v));
    }
    env_.push_back("HOME=" + dir_.path());
    env_.push_back("DOCKER_CONFIG=" + dir_.path() + "/docker");
    env_.push_back("PATH=/usr/local/bin:/usr/bin:/bin");
  }
  void TearDown() override {
    for (Daemon* d : {&seeder_, &builder_}) {
      if (d->child.pid() > 0) {
        kill(d->child.pid(), SIGTERM);
        d->child.Wait(absl::Seconds(60));
      }
    }
    if (reg_ != nullptr) reg_->Stop();
  }

  void StartDaemon(const std::string& name, const std::string& config, Daemon* d) {
    std::string dir = dir_.path() + "/" + name;
    ASSERT_EQ(mkdir(dir.c_str(), 0700), 0);
    std::string config_file = dir + "/kilnd.toml";
    WriteFile(config_file, config);
    d->addr = "unix://" + dir + "/run/kilnd.sock";
    d->child = Child::Start(
        {KilndPath(), "--addr", d->addr, "--root", dir + "/state", "--config", config_file});
    ASSERT_GT(d->child.pid(), 0);
    absl::Time deadline = absl::Now() + absl::Seconds(60);
    ProcessResult r;
    do {
      r = Kilnctl(*d, {"image", "ls"});
    } while (r.exit_code != 0 && absl::Now() < deadline &&
             (absl::SleepFor(absl::Milliseconds(100)), true));
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }

  ProcessResult Kilnctl(const Daemon& d, std::vector<std::string> args) {
    std::vector<std::string> argv = {KilnctlPath(), "--addr", d.addr};
    argv.insert(argv.end(), args.begin(), args.end());
    return testing::Run(argv, env_, absl::Seconds(600));
  }

  base::TempDir dir_;
  std::unique_ptr<tests::TestRegistry> reg_;
  std::vector<std::string> env_;
  Daemon seeder_;
  Daemon builder_;
};

TEST_F(MirrorExamplesTest, ExamplesBuildFromADockerIoMirrorThenOffline) {
  ASSERT_NO_FATAL_FAILURE(StartDaemon("seeder", "", &seeder_));
  for (const auto& [layout, name] : std::vector<std::pair<std::string, std::string>>{
           {"busybox-1.35", "busybox:1.35"}, {"golang-1.19", "golang:1.19"}}) {
    ProcessResult imported =
        Kilnctl(seeder_, {"image", "import", ImagesDir() + "/" + layout, "--name", name});
    ASSERT_EQ(imported.exit_code, 0) << imported.err;
    // The mirror holds docker.io's repositories under their full path (library/...).
    ProcessResult pushed =
        Kilnctl(seeder_, {"image", "push", name, reg_->host() + "/library/" + name});
    ASSERT_EQ(pushed.exit_code, 0) << pushed.err;
  }

  ASSERT_NO_FATAL_FAILURE(StartDaemon(
      "builder", absl::StrCat("[registry.\"docker.io\"]\nmirrors = [\"", reg_->host(), "\"]\n"),
      &builder_));
  for (const char* example : {"multi-stage", "parallel-stages"}) {
    ProcessResult built =
        Kilnctl(builder_, {"build", "--progress", "plain", "-t", absl::StrCat("ex/", example, ":1"),
                           ExamplesDir() + "/" + example});
    ASSERT_EQ(built.exit_code, 0) << example << ": " << built.err;
  }
  ProcessResult ls = Kilnctl(builder_, {"image", "ls"});
  EXPECT_THAT(ls.out, HasSubstr("docker.io/library/golang:1.19"));
  EXPECT_THAT(ls.out, HasSubstr("docker.io/library/busybox:1.35"));

  // A copy of multi-stage to edit (the shared example stays untouched).
  std::string ctx = dir_.path() + "/ctx";
  ASSERT_EQ(mkdir(ctx.c_str(), 0755), 0);
  for (const char* f : {"Dockerfile", "welcome.go"}) {
    WriteFile(ctx + "/" + f, ReadFile(ExamplesDir() + "/multi-stage/" + f));
  }
  ProcessResult first = Kilnctl(builder_, {"build", "--progress", "plain", "-t", "ex/copy:1", ctx});
  ASSERT_EQ(first.exit_code, 0) << first.err;

  // The registry goes away: everything FROM needs is local, so no request is made.
  reg_->Stop();
  ProcessResult noop = Kilnctl(builder_, {"build", "--progress", "plain", "-t", "ex/copy:1", ctx});
  ASSERT_EQ(noop.exit_code, 0) << noop.err;
  EXPECT_THAT(noop.err, HasSubstr("CACHED"));
  WriteFile(ctx + "/welcome.go", ReadFile(ctx + "/welcome.go") + "\n// edited\n");
  ProcessResult edited =
      Kilnctl(builder_, {"build", "--progress", "plain", "-t", "ex/copy:2", ctx});
  ASSERT_EQ(edited.exit_code, 0) << edited.err;
}

}  // namespace
}  // namespace kiln::testing
