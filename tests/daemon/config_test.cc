// Config file, default paths and the peer access checks.
#include "engine/daemon/config.h"

#include <sys/stat.h>

#include <map>
#include <string>

#include "absl/strings/match.h"
#include "base/temp_dir.h"
#include "engine/daemon/paths.h"
#include "engine/daemon/peer.h"
#include "gtest/gtest.h"

namespace kiln::engine::daemon {
namespace {

TEST(ConfigTest, ParsesEveryKey) {
  auto config = ParseDaemonConfig(
      "# kilnd\nmax-parallelism = 3\ndefault-network = \"none\"  # no net\n"
      "gc-keep-storage = \"10GB\"\ngc-keep-duration = 1d12h\ngc-interval = \"30m\"\n"
      "allow-uids = [1000, 1001]\n\n",
      "kilnd.toml");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->max_parallelism, 3u);
  EXPECT_EQ(config->default_network, "none");
  EXPECT_EQ(config->gc_keep_storage_bytes, 10'000'000'000);
  EXPECT_EQ(config->gc_keep_duration, absl::Hours(36));
  EXPECT_EQ(config->gc_interval, absl::Minutes(30));
  EXPECT_EQ(config->allow_uids, (std::vector<unsigned>{1000, 1001}));
}

TEST(ConfigTest, ErrorsNameFileLineAndExpectation) {
  auto bad_key = ParseDaemonConfig("max-parallelism = 2\nmax-paralelism = 3\n", "k.toml");
  ASSERT_FALSE(bad_key.ok());
  EXPECT_EQ(bad_key.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StartsWith(bad_key.status().message(), "k.toml:2: unknown key"))
      << bad_key.status();
  auto no_eq = ParseDaemonConfig("\n\njunk\n", "k.toml");
  EXPECT_TRUE(absl::StartsWith(no_eq.status().message(), "k.toml:3: expected 'key = value'"))
      << no_eq.status();
  auto bad_net = ParseDaemonConfig("default-network = bridge", "k.toml");
  EXPECT_TRUE(
      absl::StrContains(bad_net.status().message(), "expected \"default\", \"none\" or \"host\""));
  EXPECT_FALSE(ParseDaemonConfig("gc-keep-storage = 10XB", "k").ok());
  EXPECT_FALSE(ParseDaemonConfig("gc-keep-duration = 10y", "k").ok());
  EXPECT_FALSE(ParseDaemonConfig("max-parallelism = -1", "k").ok());
  EXPECT_FALSE(ParseDaemonConfig("default-network = \"host", "k").ok());
}

TEST(ConfigTest, MissingFileGivesDefaults) {
  auto config = LoadDaemonConfig("/nonexistent/kilnd.toml");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->default_network, "default");
  EXPECT_EQ(config->max_parallelism, 0u);
  EXPECT_TRUE(config->insecure_entitlements.empty());
}

TEST(ConfigTest, NetworkKeys) {
  auto config = ParseDaemonConfig(
      "slirp4netns = \"/opt/s4n\"\ndns-servers = [\"198.51.100.1\", \"2001:db8::53\"]\n"
      "allow-insecure-entitlements = [\"network.host\"]\n",
      "k.toml");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->slirp4netns, "/opt/s4n");
  EXPECT_EQ(config->dns_servers, (std::vector<std::string>{"198.51.100.1", "2001:db8::53"}));
  EXPECT_EQ(config->insecure_entitlements, std::vector<std::string>{"network.host"});
  auto bad = ParseDaemonConfig("\nallow-insecure-entitlements = [\"security.insecure\"]", "k.toml");
  EXPECT_TRUE(absl::StartsWith(bad.status().message(), "k.toml:2: unknown entitlement"))
      << bad.status();
  EXPECT_FALSE(ParseDaemonConfig("dns-servers = 198.51.100.1", "k").ok());
}

TEST(ConfigTest, SizesAndDurations) {
  EXPECT_EQ(*ParseSize("512MiB"), 512LL * 1024 * 1024);
  EXPECT_EQ(*ParseSize("1.5GB"), 1'500'000'000);
  EXPECT_EQ(*ParseSize("1024"), 1024);
  EXPECT_FALSE(ParseSize("GB").ok());
  EXPECT_EQ(*ParseDurationText("48h"), absl::Hours(48));
  EXPECT_EQ(*ParseDurationText("90s"), absl::Seconds(90));
  EXPECT_EQ(*ParseDurationText("0"), absl::ZeroDuration());
  EXPECT_FALSE(ParseDurationText("h").ok());
}

TEST(PathsTest, RootAndRootlessDefaults) {
  DefaultPaths root = DefaultPathsFor(0);
  EXPECT_EQ(root.socket, "/run/kiln/kilnd.sock");
  EXPECT_EQ(root.root, "/var/lib/kiln");
  EXPECT_EQ(root.config, "/etc/kiln/kilnd.toml");
  setenv("XDG_RUNTIME_DIR", "/run/user/1234", 1);
  setenv("XDG_DATA_HOME", "/home/u/.data", 1);
  setenv("XDG_CONFIG_HOME", "/home/u/.cfg", 1);
  DefaultPaths user = DefaultPathsFor(1234);
  EXPECT_EQ(user.socket, "/run/user/1234/kiln/kilnd.sock");
  EXPECT_EQ(user.root, "/home/u/.data/kiln");
  EXPECT_EQ(user.config, "/home/u/.cfg/kiln/kilnd.toml");
  unsetenv("XDG_DATA_HOME");
  setenv("HOME", "/home/u", 1);
  EXPECT_EQ(DefaultPathsFor(1234).root, "/home/u/.local/share/kiln");
  unsetenv("XDG_RUNTIME_DIR");
  unsetenv("XDG_CONFIG_HOME");
}

TEST(PathsTest, Addresses) {
  EXPECT_EQ(*SocketPathFromAddress("unix:///run/x.sock"), "/run/x.sock");
  EXPECT_EQ(*SocketPathFromAddress("unix:/run/x.sock"), "/run/x.sock");
  EXPECT_EQ(*SocketPathFromAddress("/run/x.sock"), "/run/x.sock");
  EXPECT_FALSE(SocketPathFromAddress("tcp://127.0.0.1:1234").ok());
  EXPECT_FALSE(SocketPathFromAddress("unix://").ok());
}

TEST(PeerTest, ChecksModeBitsAlongThePath) {
  auto dir = base::TempDir::Create();
  ASSERT_TRUE(dir.ok());
  std::string open_dir = dir->path() + "/open";
  std::string closed_dir = dir->path() + "/closed";
  ASSERT_EQ(mkdir(open_dir.c_str(), 0755), 0);
  ASSERT_EQ(mkdir(closed_dir.c_str(), 0700), 0);
  ASSERT_EQ(mkdir((closed_dir + "/inner").c_str(), 0755), 0);
  ASSERT_EQ(chmod(dir->path().c_str(), 0755), 0);
  struct stat st;
  ASSERT_EQ(stat(open_dir.c_str(), &st), 0);
  PeerCredentials stranger;
  stranger.uid = st.st_uid + 4242;
  stranger.gid = st.st_gid + 4242;
  EXPECT_TRUE(CheckPeerCanRead(stranger, open_dir).ok());
  absl::Status denied = CheckPeerCanRead(stranger, closed_dir + "/inner");
  EXPECT_EQ(denied.code(), absl::StatusCode::kPermissionDenied) << denied;
  EXPECT_TRUE(absl::StrContains(denied.message(), "'" + closed_dir + "' is not searchable"))
      << denied;
  EXPECT_EQ(CheckPeerCanRead(stranger, closed_dir).code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(CheckPeerCanWrite(stranger, open_dir + "/out.tar").code(),
            absl::StatusCode::kPermissionDenied);
  PeerCredentials owner;
  owner.uid = st.st_uid;
  owner.gid = st.st_gid;
  EXPECT_TRUE(CheckPeerCanRead(owner, closed_dir + "/inner").ok());
  EXPECT_TRUE(CheckPeerCanWrite(owner, open_dir + "/new/out.tar").ok());
  PeerCredentials group_member = stranger;
  group_member.groups = {st.st_gid};
  ASSERT_EQ(chmod(closed_dir.c_str(), 0750), 0);
  EXPECT_TRUE(CheckPeerCanRead(group_member, closed_dir + "/inner").ok());
  EXPECT_FALSE(CheckPeerCanRead(stranger, "relative/path").ok());
}

}  // namespace
}  // namespace kiln::engine::daemon
