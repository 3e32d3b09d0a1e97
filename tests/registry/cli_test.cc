// kilnctl login / image push / image pull / build with FROM pulls and pushed outputs, through
// real kilnd daemons and a real docker-registry (htpasswd Basic auth) on loopback. Also checks
// that the password never lands in the state dirs, daemon logs, progress output, traces or
// metadata files.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "absl/strings/escaping.h"
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
using ::testing::Not;

constexpr char kPassword[] = "Marker-pw-8f3a91";

std::string ImagesDir() {
  const char* dir = std::getenv("KILN_IMAGES_DIR");
  return dir != nullptr && *dir != '\0' ? dir : "/var/cache/kiln/images";
}

// One kilnd with its own root and socket, stopped at the end.
struct Daemon {
  std::string root;
  std::string addr;
  Child child;
  ProcessResult logs;

  void Start(const std::string& dir) {
    root = dir + "/state";
    addr = "unix://" + dir + "/run/kilnd.sock";
    child = Child::Start({KilndPath(), "--addr", addr, "--root", root, "--config", "/dev/null"});
    ASSERT_GT(child.pid(), 0);
  }
  void Stop() {
    if (child.pid() <= 0) return;
    kill(child.pid(), SIGTERM);
    logs = child.Wait(absl::Seconds(60));
  }
};

class RegistryCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = base::TempDir::Create("kiln-registry-cli-");
    ASSERT_TRUE(dir.ok()) << dir.status();
    dir_ = std::move(*dir);
    auto reg = tests::TestRegistry::Start({.user = "kiln", .password = kPassword});
    ASSERT_TRUE(reg.ok()) << reg.status();
    reg_ = std::move(*reg);
    env_ = {"DOCKER_CONFIG=" + dir_.path() + "/docker", "HOME=" + dir_.path(),
            "PATH=/usr/local/bin:/usr/bin:/bin"};
    for (const char* name : {"LSAN_OPTIONS", "ASAN_OPTIONS", "UBSAN_OPTIONS"}) {
      if (const char* v = std::getenv(name)) env_.push_back(absl::StrCat(name, "=", v));
    }
    ASSERT_EQ(mkdir((dir_.path() + "/a").c_str(), 0755), 0);
    ASSERT_EQ(mkdir((dir_.path() + "/b").c_str(), 0755), 0);
    a_.Start(dir_.path() + "/a");
    b_.Start(dir_.path() + "/b");
  }
  void TearDown() override {
    a_.Stop();
    b_.Stop();
    if (reg_ != nullptr) reg_->Stop();
  }

  ProcessResult Kilnctl(const Daemon& d, std::vector<std::string> args,
                        absl::Duration timeout = absl::Seconds(300)) {
    std::vector<std::string> argv = {KilnctlPath(), "--addr", d.addr};
    argv.insert(argv.end(), args.begin(), args.end());
    return testing::Run(argv, env_, timeout);
  }
  // The first call also waits for the daemon to come up.
  void Import(const Daemon& d) {
    absl::Time deadline = absl::Now() + absl::Seconds(60);
    ProcessResult r;
    do {
      r = Kilnctl(d, {"image", "import", ImagesDir() + "/busybox-1.35", "--name", "busybox:1.35"});
    } while (r.exit_code != 0 && absl::Now() < deadline &&
             (absl::SleepFor(absl::Milliseconds(100)), true));
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  void WaitUp(const Daemon& d) {
    absl::Time deadline = absl::Now() + absl::Seconds(60);
    ProcessResult r;
    do {
      r = Kilnctl(d, {"image", "ls"});
    } while (r.exit_code != 0 && absl::Now() < deadline &&
             (absl::SleepFor(absl::Milliseconds(100)), true));
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  ProcessResult Login() {
    std::string cmd = absl::StrCat("printf '%s\\n' '", kPassword, "' | ", KilnctlPath(), " login ",
                                   reg_->host(), " -u kiln --password-stdin");
    return testing::Run({"/bin/sh", "-c", cmd}, env_);
  }

  base::TempDir dir_;
  std::unique_ptr<tests::TestRegistry> reg_;
  std::vector<std::string> env_;
  Daemon a_;
  Daemon b_;
};

TEST_F(RegistryCliTest, LoginPushPullBuildOfflineAndNoPasswordAnywhere) {
  ASSERT_NO_FATAL_FAILURE(Import(a_));
  ASSERT_NO_FATAL_FAILURE(WaitUp(b_));
  std::string ref = reg_->host() + "/lib/busybox:1.35";

  // Without credentials the registry's answer comes through, with what to do.
  ProcessResult anon = Kilnctl(a_, {"image", "push", "busybox:1.35", ref});
  EXPECT_NE(anon.exit_code, 0);
  EXPECT_THAT(anon.err, HasSubstr("HTTP 401 Unauthorized"));
  EXPECT_THAT(anon.err, HasSubstr("kilnctl login"));

  ProcessResult login = Login();
  ASSERT_EQ(login.exit_code, 0) << login.err;
  std::string config = ReadFile(dir_.path() + "/docker/config.json");
  EXPECT_THAT(config, HasSubstr(absl::Base64Escape(absl::StrCat("kiln:", kPassword))));

  ProcessResult push = Kilnctl(a_, {"image", "push", "busybox:1.35", ref});
  ASSERT_EQ(push.exit_code, 0) << push.err;
  EXPECT_THAT(push.out, Not(HasSubstr(" 0 blobs uploaded")));
  ProcessResult again = Kilnctl(a_, {"image", "push", "busybox:1.35", ref});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_THAT(again.out, HasSubstr("0 blobs uploaded (0 bytes)"));

  ProcessResult pull = Kilnctl(b_, {"image", "pull", "-q", ref});
  ASSERT_EQ(pull.exit_code, 0) << pull.err;
  ProcessResult pushed_digest = Kilnctl(a_, {"image", "push", "-q", "busybox:1.35", ref});
  ASSERT_EQ(pushed_digest.exit_code, 0) << pushed_digest.err;
  EXPECT_EQ(pull.out, pushed_digest.out);
  ProcessResult rm = Kilnctl(b_, {"image", "rm", ref});
  ASSERT_EQ(rm.exit_code, 0) << rm.err;

  // FROM pulls on first use (into b, whose store lacks it), with the client's credentials.
  std::string ctx = dir_.path() + "/ctx";
  ASSERT_EQ(mkdir(ctx.c_str(), 0755), 0);
  WriteFile(ctx + "/Dockerfile", "FROM " + ref + "\nCOPY f /f\nRUN cat /f > /g\n");
  WriteFile(ctx + "/f", "one\n");
  std::string meta = dir_.path() + "/meta.json";
  std::string trace = dir_.path() + "/trace.json";
  ProcessResult build = Kilnctl(b_, {"build", "--progress", "plain", "--metadata-file", meta,
                                     "--trace", trace, "-t", "out:1", ctx});
  ASSERT_EQ(build.exit_code, 0) << build.err;
  ProcessResult ls = Kilnctl(b_, {"image", "ls"});
  EXPECT_THAT(ls.out, HasSubstr(ref));

  // Build outputs that push: --push with -t, and --output type=registry; a (logged-in)
  // pull of each from the other daemon gets the built image.
  std::string built = reg_->host() + "/built/out:1";
  ProcessResult push_build =
      Kilnctl(b_, {"build", "--progress", "plain", "--push", "-t", built, ctx});
  ASSERT_EQ(push_build.exit_code, 0) << push_build.err;
  std::string built2 = reg_->host() + "/built/out:2";
  ProcessResult registry_out = Kilnctl(
      b_, {"build", "--progress", "plain", "--output", "type=registry,name=" + built2, ctx});
  ASSERT_EQ(registry_out.exit_code, 0) << registry_out.err;
  for (const std::string& r : {built, built2}) {
    ProcessResult got = Kilnctl(a_, {"image", "pull", r});
    EXPECT_EQ(got.exit_code, 0) << got.err;
  }

  // The registry goes away: a no-op rebuild and a one-file change still build.
  reg_->Stop();
  ProcessResult noop = Kilnctl(b_, {"build", "--progress", "plain", "-t", "out:1", ctx});
  ASSERT_EQ(noop.exit_code, 0) << noop.err;
  WriteFile(ctx + "/f", "two\n");
  ProcessResult changed = Kilnctl(b_, {"build", "--progress", "plain", "-t", "out:2", ctx});
  ASSERT_EQ(changed.exit_code, 0) << changed.err;
  // --pull=always must ask the registry, which is down.
  ProcessResult always =
      Kilnctl(b_, {"build", "--progress", "plain", "--pull", "always", "-t", "out:3", ctx});
  EXPECT_NE(always.exit_code, 0);
  EXPECT_THAT(always.err, HasSubstr("revalidate"));
  ProcessResult bad_policy = Kilnctl(b_, {"build", "--pull", "sometimes", ctx});
  EXPECT_NE(bad_policy.exit_code, 0);
  EXPECT_THAT(bad_policy.err, HasSubstr("expected missing, always or never"));
  // --pull=never with an image that is not there: the store's NotFound, no network.
  WriteFile(ctx + "/Dockerfile", "FROM " + reg_->host() + "/lib/absent:1\n");
  ProcessResult never = Kilnctl(b_, {"build", "--pull", "never", ctx});
  EXPECT_NE(never.exit_code, 0);
  EXPECT_THAT(never.err, HasSubstr("not in the local image store"));

  ProcessResult logout = testing::Run({KilnctlPath(), "logout", reg_->host()}, env_);
  ASSERT_EQ(logout.exit_code, 0) << logout.err;
  EXPECT_THAT(ReadFile(dir_.path() + "/docker/config.json"), Not(HasSubstr(reg_->host())));

  // The password is nowhere but where the user put it (now removed).
  a_.Stop();
  b_.Stop();
  for (const ProcessResult* r :
       {&push, &again, &pull, &build, &push_build, &registry_out, &noop, &changed, &always}) {
    EXPECT_THAT(r->out + r->err, Not(HasSubstr(kPassword)));
  }
  EXPECT_THAT(a_.logs.out + a_.logs.err + b_.logs.out + b_.logs.err, Not(HasSubstr(kPassword)));
  EXPECT_THAT(ReadFile(meta) + ReadFile(trace), Not(HasSubstr(kPassword)));
  std::string grep_out;
  int grep = tests::Run({"grep", "-r", "-l", "-a", kPassword, a_.root, b_.root}, &grep_out);
  EXPECT_EQ(grep, 1) << "the password is in: " << grep_out;  // 1: no match, 2: error
}

// kilnd's registries-only pass (the real frontend) decides which credentials go with a build:
// a FROM whose registry comes from an ARG and a COPY --from of a registry image both pull with
// the logged-in user's credentials (the old client-side FROM scan saw neither).
TEST_F(RegistryCliTest, CredentialsFollowArgExpandedFromAndCopyFromImage) {
  ASSERT_NO_FATAL_FAILURE(Import(a_));
  ASSERT_NO_FATAL_FAILURE(WaitUp(b_));
  ProcessResult login = Login();
  ASSERT_EQ(login.exit_code, 0) << login.err;
  for (const char* repo : {"/lib/busybox:1.35", "/other/copysrc:1"}) {
    ProcessResult push = Kilnctl(a_, {"image", "push", "busybox:1.35", reg_->host() + repo});
    ASSERT_EQ(push.exit_code, 0) << push.err;
  }
  std::string ctx = dir_.path() + "/ctx";
  ASSERT_EQ(mkdir(ctx.c_str(), 0755), 0);
  WriteFile(ctx + "/Dockerfile", absl::StrCat("ARG REG=127.0.0.1:1\n"
                                              "FROM ${REG}/lib/busybox:1.35 AS base\n"
                                              "COPY --from=",
                                              reg_->host(),
                                              "/other/copysrc:1 /bin/busybox /copied\n"
                                              "RUN test -x /copied\n"));
  // The ARG's default names no registry at all: only --build-arg makes the ref pullable, so
  // the pass must expand the ARG as the build does.
  ProcessResult build = Kilnctl(b_, {"build", "--progress", "plain", "--build-arg",
                                     "REG=" + reg_->host(), "-t", "out:1", ctx});
  ASSERT_EQ(build.exit_code, 0) << build.err;
  ProcessResult ls = Kilnctl(b_, {"image", "ls"});
  EXPECT_THAT(ls.out, HasSubstr(reg_->host() + "/lib/busybox:1.35"));
  EXPECT_THAT(ls.out, HasSubstr(reg_->host() + "/other/copysrc:1"));

  // Logged out, the same build (fresh images) is refused by the registry: the credentials were
  // what made it work.
  ASSERT_EQ(Kilnctl(b_, {"image", "rm", reg_->host() + "/lib/busybox:1.35"}).exit_code, 0);
  ProcessResult logout = testing::Run({KilnctlPath(), "logout", reg_->host()}, env_);
  ASSERT_EQ(logout.exit_code, 0) << logout.err;
  ProcessResult anon = Kilnctl(b_, {"build", "--progress", "plain", "--no-cache", "--build-arg",
                                    "REG=" + reg_->host(), "-t", "out:2", ctx});
  EXPECT_NE(anon.exit_code, 0);
  EXPECT_THAT(anon.err, HasSubstr("401"));
  b_.Stop();
  EXPECT_THAT(build.out + build.err + b_.logs.out + b_.logs.err, Not(HasSubstr(kPassword)));
}

}  // namespace
}  // namespace kiln::testing
