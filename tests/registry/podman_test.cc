// Podman accepts what Kiln pushes: an image BUILT by a real kilnd (a COPY and a RUN layer over
// busybox) goes with `kilnctl build --push` to the fixture's TLS registry (kilnd trusts the
// test CA through a [registry."host"] table), and `podman pull` fetches it over TLS with the
// same CA (--cert-dir), into private storage (vfs, --root/--runroot/--tmpdir and every config
// file in the test's temp dir; never the host's storage or its /var/lib/containers). Then `podman
// image inspect` must show Kiln's manifest digest, the platform, and one layer per manifest layer.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
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

class PodmanAcceptsKilnTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = base::TempDir::Create("kiln-registry-podman-");
    ASSERT_TRUE(dir.ok()) << dir.status();
    dir_ = std::move(*dir);
    auto reg = tests::TestRegistry::Start({.tls = true});
    ASSERT_TRUE(reg.ok()) << reg.status();
    reg_ = std::move(*reg);
    env_ = {"HOME=" + dir_.path(), "DOCKER_CONFIG=" + dir_.path() + "/docker",
            "PATH=/usr/local/bin:/usr/bin:/bin"};
    for (const char* name : {"LSAN_OPTIONS", "ASAN_OPTIONS", "UBSAN_OPTIONS"}) {
      if (const char* v = std::getenv(name)) env_.push_back(absl::StrCat(name, "=", v));
    }
    std::string config = dir_.path() + "/kilnd.toml";
    WriteFile(config, absl::StrCat("[registry.\"", reg_->host(), "\"]\nca = [\"", reg_->ca_file(),
                                   "\"]\n"));
    ASSERT_EQ(mkdir((dir_.path() + "/run").c_str(), 0700), 0);
    addr_ = "unix://" + dir_.path() + "/run/kilnd.sock";
    kilnd_ = Child::Start(
        {KilndPath(), "--addr", addr_, "--root", dir_.path() + "/state", "--config", config});
    ASSERT_GT(kilnd_.pid(), 0);
  }
  void TearDown() override {
    if (kilnd_.pid() > 0) {
      kill(kilnd_.pid(), SIGTERM);
      kilnd_.Wait(absl::Seconds(60));
    }
    if (reg_ != nullptr) reg_->Stop();
  }

  ProcessResult Kilnctl(std::vector<std::string> args) {
    std::vector<std::string> argv = {KilnctlPath(), "--addr", addr_};
    argv.insert(argv.end(), args.begin(), args.end());
    return testing::Run(argv, env_, absl::Seconds(300));
  }

  // podman with everything of its own under dir_/podman. Podman 4.3 as root writes its blob
  // info cache to /var/lib/containers/cache whatever --root says, so it runs in a private mount
  // namespace where the test's own directory is bound over /var/lib/containers (or, where that
  // does not exist, a tmpfs over /var/lib): nothing of the host is written.
  ProcessResult Podman(std::vector<std::string> args) {
    std::string p = dir_.path() + "/podman";
    std::vector<std::string> argv = {
        "unshare",
        "-m",
        "--propagation",
        "private",
        "/bin/sh",
        "-c",
        "if [ -d /var/lib/containers ]; then mount --bind \"$1\" /var/lib/containers; "
        "else mount -t tmpfs tmpfs /var/lib; fi || exit 99; shift; exec \"$@\"",
        "sh",
        p + "/varlib",
        "podman",
        "--root",
        p + "/root",
        "--runroot",
        p + "/runroot",
        "--tmpdir",
        p + "/tmp",
        "--storage-driver",
        "vfs",
        "--events-backend",
        "none",
        "--cgroup-manager",
        "cgroupfs"};
    argv.insert(argv.end(), args.begin(), args.end());
    std::vector<std::string> env = {
        "HOME=" + p + "/home",
        "PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin",
        "XDG_RUNTIME_DIR=" + p + "/xdg",
        "XDG_CONFIG_HOME=" + p + "/home/.config",
        "TMPDIR=" + p + "/tmp",
        "CONTAINERS_CONF=" + p + "/containers.conf",
        "CONTAINERS_REGISTRIES_CONF=" + p + "/registries.conf",
        "CONTAINERS_STORAGE_CONF=" + p + "/storage.conf",
        "REGISTRY_AUTH_FILE=" + p + "/auth.json",
    };
    return testing::Run(argv, env, absl::Seconds(300));
  }
  void PreparePodman() {
    std::string p = dir_.path() + "/podman";
    for (const char* d : {"", "/home", "/home/.config", "/xdg", "/tmp", "/varlib"}) {
      ASSERT_EQ(mkdir((p + d).c_str(), 0700), 0) << p + d;
    }
    WriteFile(p + "/containers.conf", "");
    WriteFile(p + "/registries.conf", "unqualified-search-registries = []\n");
    WriteFile(p + "/storage.conf", absl::StrCat("[storage]\ndriver = \"vfs\"\nrunroot = \"", p,
                                                "/runroot\"\ngraphroot = \"", p, "/root\"\n"));
    WriteFile(p + "/auth.json", "{}\n");
  }

  base::TempDir dir_;
  std::unique_ptr<tests::TestRegistry> reg_;
  std::vector<std::string> env_;
  std::string addr_;
  Child kilnd_;
};

TEST_F(PodmanAcceptsKilnTest, PodmanPullsAKilnBuiltImageOverTlsWithTheTestCa) {
  // The first call also waits for the daemon to come up.
  absl::Time deadline = absl::Now() + absl::Seconds(60);
  ProcessResult imported;
  do {
    imported =
        Kilnctl({"image", "import", ImagesDir() + "/busybox-1.35", "--name", "busybox:1.35"});
  } while (imported.exit_code != 0 && absl::Now() < deadline &&
           (absl::SleepFor(absl::Milliseconds(100)), true));
  ASSERT_EQ(imported.exit_code, 0) << imported.err;

  std::string ctx = dir_.path() + "/ctx";
  ASSERT_EQ(mkdir(ctx.c_str(), 0755), 0);
  WriteFile(ctx + "/Dockerfile",
            "FROM busybox:1.35\nCOPY f /f\nRUN cat /f > /g && echo built > /h\nCMD [\"cat\", "
            "\"/g\"]\n");
  WriteFile(ctx + "/f", "kiln built this\n");
  std::string ref = reg_->host() + "/kiln/podman:1";
  ProcessResult build = Kilnctl({"build", "--progress", "plain", "--push", "-t", ref, ctx});
  ASSERT_EQ(build.exit_code, 0) << build.err;
  // A second push of the unchanged image prints the manifest digest that is in the registry.
  ProcessResult digest = Kilnctl({"image", "push", "-q", ref});
  ASSERT_EQ(digest.exit_code, 0) << digest.err;
  std::string kiln_digest(absl::StripAsciiWhitespace(digest.out));
  ASSERT_TRUE(kiln_digest.starts_with("sha256:")) << digest.out;

  ASSERT_NO_FATAL_FAILURE(PreparePodman());
  // Without the CA, podman refuses the registry's certificate: TLS is really in use.
  ProcessResult untrusted = Podman({"pull", "-q", ref});
  EXPECT_NE(untrusted.exit_code, 0) << untrusted.out;
  EXPECT_THAT(untrusted.out + untrusted.err, HasSubstr("certificate"));

  ProcessResult pull = Podman({"pull", "-q", "--cert-dir", reg_->cert_dir(), ref});
  ASSERT_EQ(pull.exit_code, 0) << pull.out << pull.err;
  ProcessResult inspect = Podman(
      {"image", "inspect", "--format",
       "{{.Digest}} {{.Os}}/{{.Architecture}} {{len .RootFS.Layers}} {{index .Config.Cmd 0}}",
       ref});
  ASSERT_EQ(inspect.exit_code, 0) << inspect.out << inspect.err;
  std::vector<std::string> fields =
      absl::StrSplit(absl::StripAsciiWhitespace(inspect.out), ' ', absl::SkipEmpty());
  ASSERT_EQ(fields.size(), 4u) << inspect.out;
  EXPECT_EQ(fields[0], kiln_digest);
  EXPECT_EQ(fields[1], "linux/amd64");
  // busybox's layer, then the COPY and the RUN.
  EXPECT_EQ(fields[2], "3") << inspect.out;
  EXPECT_EQ(fields[3], "cat");

  // skopeo reads the same manifest digest over TLS.
  ProcessResult skopeo = testing::Run({"skopeo", "inspect", "--cert-dir", reg_->cert_dir(),
                                       "--format", "{{.Digest}}", "docker://" + ref},
                                      env_, absl::Seconds(120));
  ASSERT_EQ(skopeo.exit_code, 0) << skopeo.err;
  EXPECT_EQ(std::string(absl::StripAsciiWhitespace(skopeo.out)), kiln_digest);
}

}  // namespace
}  // namespace kiln::testing
