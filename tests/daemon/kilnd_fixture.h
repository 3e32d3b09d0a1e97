// A real kilnd in a fresh temp dir (its own state dir and socket), with the busybox base image
// imported, for tests that drive it through kilnctl. Only the temp dir is ever written.
#ifndef KILN_TESTS_DAEMON_KILND_FIXTURE_H_
#define KILN_TESTS_DAEMON_KILND_FIXTURE_H_

#include <signal.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "base/temp_dir.h"
#include "engine/daemon/socket.h"
#include "gtest/gtest.h"
#include "tests/daemon/test_util.h"
#include "tools/kilnctl/client.h"

namespace kiln::testing {

inline std::string BaseImagesDir() {
  const char* dir = std::getenv("KILN_IMAGES_DIR");
  if (dir != nullptr && *dir != '\0') return dir;
  return "/var/cache/kiln/images";
}

class KilndFixture : public ::testing::Test {
 protected:
  // `config`: the text of kilnd's config file ("" = none).
  void StartKilnd(const std::string& config = "") {
    auto dir = base::TempDir::Create("compat-kilnd-");
    ASSERT_TRUE(dir.ok()) << dir.status();
    dir_ = std::move(*dir);
    socket_ = dir_.path() + "/run/kilnd.sock";
    std::string config_path = "/dev/null";
    if (!config.empty()) {
      config_path = dir_.path() + "/kilnd.toml";
      WriteFile(config_path, config);
    }
    kilnd_ = Child::Start({KilndPath(), "--addr", "unix://" + socket_, "--root",
                           dir_.path() + "/state", "--config", config_path});
    const absl::Time deadline = absl::Now() + absl::Seconds(60);
    while (!engine::daemon::ConnectUnixSocket(socket_).ok() && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(20));
    }
    auto client = tools::DaemonClient::Connect(tools::ClientOptions{"unix://" + socket_});
    ASSERT_TRUE(client.ok()) << client.status();
    const std::string image = BaseImagesDir() + "/busybox-1.35";
    ASSERT_EQ(access(image.c_str(), R_OK), 0)
        << "base image " << image << " is missing: run tools/images/build.sh";
    auto refs = (*client)->ImageImport(image, "busybox:1.35");
    ASSERT_TRUE(refs.ok()) << "import " << image << ": " << refs.status()
                           << "\nkilnd: " << kilnd_.Wait(absl::Seconds(1)).err;
  }

  void TearDown() override {
    if (kilnd_.pid() > 0) {
      kill(kilnd_.pid(), SIGTERM);
      ProcessResult done = kilnd_.Wait(absl::Seconds(60));
      EXPECT_EQ(done.exit_code, 0) << done.err;
    }
  }

  // kilnctl <args[0]> --addr <socket> <args[1:]...>
  std::vector<std::string> Kilnctl(std::vector<std::string> args) const {
    std::vector<std::string> argv = {KilnctlPath(), args[0], "--addr", "unix://" + socket_};
    argv.insert(argv.end(), args.begin() + 1, args.end());
    return argv;
  }

  // A new directory below the temp dir holding `files` (name, content) pairs.
  std::string Dir(const std::string& name,
                  const std::vector<std::pair<std::string, std::string>>& files) {
    const std::string d = dir_.path() + "/" + name;
    EXPECT_EQ(kiln::testing::Run({"mkdir", "-p", d}).exit_code, 0);
    for (const auto& [f, content] : files) {
      const std::string p = d + "/" + f;
      EXPECT_EQ(kiln::testing::Run({"mkdir", "-p", p.substr(0, p.rfind('/'))}).exit_code, 0);
      WriteFile(p, content);
    }
    return d;
  }

  base::TempDir dir_;
  std::string socket_;
  Child kilnd_;
};

}  // namespace kiln::testing

#endif  // KILN_TESTS_DAEMON_KILND_FIXTURE_H_
