// Config file, default paths, build flags and the peer access checks.
#include <sys/stat.h>

#include <map>
#include <string>

#include "absl/strings/match.h"
#include "base/temp_dir.h"
#include "engine/daemon/build_options.h"
#include "engine/daemon/config.h"
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
  EXPECT_TRUE(absl::StrContains(bad_net.status().message(), "expected \"host\" or \"none\""));
  EXPECT_FALSE(ParseDaemonConfig("gc-keep-storage = 10XB", "k").ok());
  EXPECT_FALSE(ParseDaemonConfig("gc-keep-duration = 10y", "k").ok());
  EXPECT_FALSE(ParseDaemonConfig("max-parallelism = -1", "k").ok());
  EXPECT_FALSE(ParseDaemonConfig("default-network = \"host", "k").ok());
}

TEST(ConfigTest, MissingFileGivesDefaults) {
  auto config = LoadDaemonConfig("/nonexistent/kilnd.toml");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->default_network, "host");
  EXPECT_EQ(config->max_parallelism, 0u);
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

TEST(BuildOptionsTest, BuildctlForm) {
  auto dir = base::TempDir::Create();
  ASSERT_TRUE(dir.ok());
  BuildFlags flags;
  flags.frontend = "dockerfile.v0";
  flags.locals = {"context=" + dir->path(), "dockerfile=."};
  flags.opts = {"filename=Dockerfile.dev", "target=builder", "build-arg:GO=1.19"};
  flags.outputs = {"type=oci,dest=out.tar", "type=image,name=app:1"};
  flags.no_cache = true;
  auto req = MakeBuildRequest(flags, dir->path());
  ASSERT_TRUE(req.ok()) << req.status();
  EXPECT_EQ(req->context_dir, dir->path());
  EXPECT_EQ(req->dockerfile_dir, dir->path());
  EXPECT_EQ(req->dockerfile_name, "Dockerfile.dev");
  EXPECT_EQ(req->target, "builder");
  EXPECT_EQ(req->build_args.at("GO"), "1.19");
  ASSERT_EQ(req->exports.size(), 2u);
  EXPECT_EQ(req->exports[0].type, "oci");
  EXPECT_EQ(req->exports[0].attrs.at("dest"), dir->path() + "/out.tar");
  EXPECT_EQ(req->exports[1].attrs.at("name"), "app:1");
  EXPECT_TRUE(req->no_cache);
}

TEST(BuildOptionsTest, SecretsInBuildctlSyntax) {
  auto dir = base::TempDir::Create();
  ASSERT_TRUE(dir.ok());
  BuildFlags flags;
  flags.context = dir->path();
  flags.secrets = {"id=npm,src=tokens/npmrc", "type=file,source=/etc/hostname",
                   "src=/run/aws.txt"};
  auto req = MakeBuildRequest(flags, dir->path());
  ASSERT_TRUE(req.ok()) << req.status();
  EXPECT_EQ(req->secrets, (std::map<std::string, std::string>{
                              {"npm", dir->path() + "/tokens/npmrc"},
                              {"hostname", "/etc/hostname"},
                              {"aws.txt", "/run/aws.txt"}}));
  for (const char* bad : {"id=x", "id=x,env=TOKEN", "id=x,src=/a,bogus=1", "nonsense"}) {
    flags.secrets = {bad};
    auto r = MakeBuildRequest(flags, dir->path());
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_TRUE(absl::StrContains(r.status().message(), "--secret")) << r.status();
  }
  flags.secrets = {"id=x,src=/a", "id=x,src=/b"};
  EXPECT_TRUE(absl::StrContains(MakeBuildRequest(flags, dir->path()).status().message(),
                                "given twice"));
}

TEST(BuildOptionsTest, ShortForm) {
  auto dir = base::TempDir::Create();
  ASSERT_TRUE(dir.ok());
  ASSERT_EQ(mkdir((dir->path() + "/sub").c_str(), 0755), 0);
  BuildFlags flags;
  flags.file = "sub/Dockerfile.x";
  flags.tags = {"hello:latest"};
  flags.target = "runtime";
  flags.build_args = {"A=1", "B=x=y"};
  flags.context = ".";
  auto req = MakeBuildRequest(flags, dir->path());
  ASSERT_TRUE(req.ok()) << req.status();
  EXPECT_EQ(req->context_dir, dir->path());
  EXPECT_EQ(req->dockerfile_dir, dir->path() + "/sub");
  EXPECT_EQ(req->dockerfile_name, "Dockerfile.x");
  EXPECT_EQ(req->target, "runtime");
  EXPECT_EQ(req->build_args.at("B"), "x=y");
  ASSERT_EQ(req->exports.size(), 1u);
  EXPECT_EQ(req->exports[0].type, "image");
  EXPECT_EQ(req->exports[0].attrs.at("name"), "hello:latest");
}

TEST(BuildOptionsTest, BadFlagsAreClearErrors) {
  auto dir = base::TempDir::Create();
  ASSERT_TRUE(dir.ok());
  BuildFlags none;
  EXPECT_TRUE(absl::StrContains(MakeBuildRequest(none, dir->path()).status().message(),
                                "--local context=DIR"));
  BuildFlags bad_output;
  bad_output.context = ".";
  bad_output.outputs = {"type=tarball,dest=x"};
  EXPECT_TRUE(absl::StrContains(MakeBuildRequest(bad_output, dir->path()).status().message(),
                                "expected type=image|oci|docker|local"));
  BuildFlags no_name;
  no_name.context = ".";
  no_name.outputs = {"type=image"};
  EXPECT_FALSE(MakeBuildRequest(no_name, dir->path()).ok());
  BuildFlags bad_opt;
  bad_opt.context = ".";
  bad_opt.opts = {"colour=blue"};
  EXPECT_TRUE(absl::StrContains(MakeBuildRequest(bad_opt, dir->path()).status().message(),
                                "unknown --opt 'colour'"));
  BuildFlags missing;
  missing.context = "does-not-exist";
  EXPECT_EQ(MakeBuildRequest(missing, dir->path()).status().code(), absl::StatusCode::kNotFound);
  BuildFlags frontend;
  frontend.context = ".";
  frontend.frontend = "gateway.v0";
  EXPECT_FALSE(MakeBuildRequest(frontend, dir->path()).ok());
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
