// The network helper's choice (network_helper.h): slirp4netns first; pasta only when slirp4netns
// is unusable and pasta passes its self-test, run with every port forwarding off and no gateway
// mapping; otherwise a clear error that names --network=none and --network=host, never host
// networking. Root only: the helpers run from a thread that made its own network namespace, so
// nothing here can reach the machine's network.
#include <sched.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "sandbox/sandbox.h"
#include "sandbox/worker_facts.h"
#include "tests/sandbox/rootfs_fixture.h"

namespace kiln::sandbox {
namespace {

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class NetworkChoiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // Root only (ctest registers no rootless variant): a fresh network namespace per case.
    ASSERT_EQ(::geteuid(), 0u) << "needs root (own network namespace, fake pasta)";
    auto r = testing::BusyboxRootfs::Create();
    ASSERT_TRUE(r.ok()) << r.status();
    rootfs_ = std::move(*r);
    dir_ = rootfs_.dir.path();
    std::ofstream(dir_ + "/resolv.conf") << "nameserver 198.51.100.1\n";
  }

  // Runs `fn` in a thread with its own (empty) network namespace.
  template <typename F>
  void InOwnNetns(F fn) {
    std::thread t([&] {
      ASSERT_EQ(::unshare(CLONE_NEWNET), 0);
      fn();
    });
    t.join();
  }

  std::unique_ptr<Sandbox> Make(const std::string& slirp, const std::string& pasta) {
    SandboxOptions options;
    options.state_dir = dir_;
    options.network.slirp4netns = slirp;
    options.network.pasta = pasta;
    auto sb = Sandbox::Create(std::move(options));
    EXPECT_TRUE(sb.ok()) << sb.status();
    return sb.ok() ? std::move(*sb) : nullptr;
  }

  // `cat FILE` (/proc/net/dev) in a run with `network`.
  absl::StatusOr<std::string> Devices(const Sandbox& sb, NetworkMode network,
                                      const std::string& file = "/proc/net/dev") {
    Spec spec;
    spec.argv = {"/bin/cat", file};
    spec.rootfs = {rootfs_.BindMount()};
    spec.network = network;
    spec.resolv_conf = dir_ + "/resolv.conf";
    std::string out;
    spec.on_stdout = [&](std::string_view s) { out.append(s); };
    absl::StatusOr<Result> r = sb.Run(spec);
    if (!r.ok()) return r.status();
    return out;
  }

  testing::BusyboxRootfs rootfs_;
  std::string dir_;
};

// A pasta stand-in that configures tap0 in the namespace it is given (as root, with ip) and
// stays in the foreground, recording its arguments.
TEST_F(NetworkChoiceTest, PastaIsTheSecondChoiceAfterItsSelfTest) {
  const std::string fake = dir_ + "/fake-pasta";
  std::ofstream(fake) << "#!/bin/sh\n"
                         "[ \"$1\" = --version ] && { echo 'pasta fake-1'; exit 0; }\n"
                         "for a; do last=$a; done\n"
                         "echo \"$@\" >> "
                      << dir_
                      << "/pasta-argv\n"
                         "/usr/bin/nsenter --net=\"$last\" /bin/sh -c 'ip tuntap add dev tap0 mode "
                         "tap && ip addr add 10.0.2.100/24 dev tap0 && ip link set tap0 up' || "
                         "exit 1\n"
                         "exec sleep 1000\n";
  ASSERT_EQ(::chmod(fake.c_str(), 0755), 0);
  InOwnNetns([&] {
    std::unique_ptr<Sandbox> sb = Make(dir_ + "/no-such-slirp4netns", fake);
    ASSERT_NE(sb, nullptr);
    const NetworkHelper& net = sb->network_helper();
    ASSERT_TRUE(net.usable()) << net.problem();
    EXPECT_STREQ(net.kind_name(), "pasta");
    EXPECT_EQ(net.self_test(), "ok");
    EXPECT_THAT(net.self_test_note(), ::testing::HasSubstr("no-such-slirp4netns"));
    absl::StatusOr<std::string> dev = Devices(*sb, NetworkMode::kDefault);
    ASSERT_TRUE(dev.ok()) << dev.status();
    EXPECT_THAT(*dev, ::testing::HasSubstr("tap0"));
    dev = Devices(*sb, NetworkMode::kNone);  // the control
    ASSERT_TRUE(dev.ok()) << dev.status();
    EXPECT_THAT(*dev, ::testing::Not(::testing::HasSubstr("tap0")));
    absl::StatusOr<WorkerFacts> f = ProbeWorkerFacts(*sb);
    ASSERT_TRUE(f.ok()) << f.status();
    EXPECT_THAT(f->network_helper, ::testing::HasSubstr("pasta fake-1"));
    EXPECT_EQ(f->network_helper_self_test, "ok");
    sb.reset();  // waits for the helpers
  });
  // Self-test, the run, the facts' self-test: each with every forwarding off.
  std::string argv = Slurp(dir_ + "/pasta-argv");
  EXPECT_EQ(std::count(argv.begin(), argv.end(), '\n'), 3) << argv;
  for (absl::string_view line : absl::StrSplit(argv, '\n', absl::SkipEmpty())) {
    EXPECT_THAT(std::string(line),
                ::testing::HasSubstr("--no-map-gw -t none -u none -T none -U none"));
  }
}

// A pasta that fails its self-test is never used: the error names both helpers and the ways
// out, and the command does not run (no fallback to the host's network).
TEST_F(NetworkChoiceTest, PastaThatFailsItsSelfTestIsRefused) {
  const std::string fake = dir_ + "/broken-pasta";
  std::ofstream(fake) << "#!/bin/sh\n"
                         "[ \"$1\" = --version ] && { echo 'pasta broken-1'; exit 0; }\n"
                         "echo \"Couldn't open network namespace: Permission denied\" >&2\n"
                         "exit 1\n";
  ASSERT_EQ(::chmod(fake.c_str(), 0755), 0);
  InOwnNetns([&] {
    std::unique_ptr<Sandbox> sb = Make(dir_ + "/no-such-slirp4netns", fake);
    ASSERT_NE(sb, nullptr);
    const NetworkHelper& net = sb->network_helper();
    EXPECT_FALSE(net.usable());
    EXPECT_THAT(net.problem(), ::testing::HasSubstr("no-such-slirp4netns"));
    EXPECT_THAT(net.problem(), ::testing::HasSubstr("self-test"));
    EXPECT_THAT(net.problem(), ::testing::HasSubstr("Permission denied"));
    absl::StatusOr<std::string> dev = Devices(*sb, NetworkMode::kDefault);
    ASSERT_FALSE(dev.ok()) << *dev;
    EXPECT_THAT(dev.status().message(), ::testing::HasSubstr("--network=none"));
    EXPECT_THAT(dev.status().message(), ::testing::HasSubstr("--network=host"));
    absl::StatusOr<WorkerFacts> f = ProbeWorkerFacts(*sb);
    ASSERT_TRUE(f.ok()) << f.status();
    EXPECT_THAT(f->network_helper_self_test, ::testing::HasSubstr("Permission denied"));
    // "none" turns the second choice off.
    std::unique_ptr<Sandbox> off = Make(dir_ + "/no-such-slirp4netns", "none");
    ASSERT_NE(off, nullptr);
    EXPECT_FALSE(off->network_helper().usable());
    EXPECT_THAT(off->network_helper().problem(),
                ::testing::Not(::testing::HasSubstr("second choice")));
  });
}

// The installed pasta (Debian 12's is expected to fail its self-test): either refused with a
// clear error, or, if it passed, really connecting the run.
TEST_F(NetworkChoiceTest, InstalledPastaIsRefusedOrWorks) {
  InOwnNetns([&] {
    std::unique_ptr<Sandbox> sb = Make(dir_ + "/no-such-slirp4netns", "");
    ASSERT_NE(sb, nullptr);
    const NetworkHelper& net = sb->network_helper();
    absl::StatusOr<std::string> dev = Devices(*sb, NetworkMode::kDefault);
    if (net.usable()) {
      ASSERT_TRUE(dev.ok()) << dev.status();
      EXPECT_THAT(*dev, ::testing::HasSubstr("tap0"));
    } else {
      std::fprintf(stderr, "installed pasta refused: %s\n", net.problem().c_str());
      ASSERT_FALSE(dev.ok());
      EXPECT_THAT(dev.status().message(), ::testing::HasSubstr("--network=host"));
    }
  });
}

// The real slirp4netns (started while the init sets up): tap0 is configured before the
// command starts, every time (the init waits for the helper's ready byte). A failed set-up of
// the init is reported as such, not as a helper problem.
TEST_F(NetworkChoiceTest, Slirp4netnsIsReadyBeforeTheCommandStarts) {
  InOwnNetns([&] {
    std::unique_ptr<Sandbox> sb = Make("", "none");
    ASSERT_NE(sb, nullptr);
    // tools/setup.sh installs slirp4netns: an unusable one is a failure, never a skip.
    ASSERT_TRUE(sb->network_helper().usable())
        << "slirp4netns unusable here: " << sb->network_helper().problem();
    EXPECT_STREQ(sb->network_helper().kind_name(), "slirp4netns");
    for (int i = 0; i < 5; ++i) {
      // The default route via 10.0.2.2 is the last thing slirp4netns configures.
      absl::StatusOr<std::string> routes = Devices(*sb, NetworkMode::kDefault, "/proc/net/route");
      ASSERT_TRUE(routes.ok()) << routes.status();
      EXPECT_THAT(*routes, ::testing::HasSubstr("tap0\t00000000\t0202000A")) << "run " << i;
    }
    Spec spec;
    spec.argv = {"/bin/true"};
    spec.rootfs = {rootfs_.BindMount()};
    spec.network = NetworkMode::kDefault;
    spec.resolv_conf = dir_ + "/resolv.conf";
    spec.mounts = {{base::Mount{"tmpfs", "tmpfs", {"size=bogus"}}, "/x"}};
    absl::StatusOr<Result> r = sb->Run(spec);
    ASSERT_FALSE(r.ok());
    EXPECT_THAT(r.status().message(), ::testing::HasSubstr("mount tmpfs at '/x'"));
  });
}

}  // namespace
}  // namespace kiln::sandbox
