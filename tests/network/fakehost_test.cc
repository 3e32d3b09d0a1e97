// RUN networking (issue 16) through kilnctl and a real kilnd that runs inside a "fakehost": a
// network + mount namespace this test creates (unshare), whose loopback carries the
// documentation address 198.51.100.1 with an "outside" HTTP server and a DNS server on it, a
// "secret" HTTP server on fakehost's 127.0.0.1 and an abstract Unix socket
// (fakehost_servers.py). No traffic leaves the test's own namespaces. Every check has a control
// run that proves it can fail. Root only (the namespaces are made with unshare as root).
#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "tests/daemon/kilnd_fixture.h"
#include "tests/daemon/test_util.h"

namespace kiln::testing {
namespace {

// Field `key` of /proc/PID/status, or "".
std::string StatusField(pid_t pid, const std::string& key) {
  for (absl::string_view line :
       absl::StrSplit(ReadFile(absl::StrCat("/proc/", pid, "/status")), '\n')) {
    if (absl::ConsumePrefix(&line, key + ":")) return std::string(absl::StripAsciiWhitespace(line));
  }
  return "";
}

// Pids of the slirp4netns processes whose parent is `parent`.
std::vector<pid_t> HelpersOf(pid_t parent) {
  std::vector<pid_t> out;
  DIR* d = opendir("/proc");
  if (d == nullptr) return out;
  while (dirent* e = readdir(d)) {
    int pid = 0;
    if (!absl::SimpleAtoi(e->d_name, &pid)) continue;
    if (StatusField(pid, "Name") == "slirp4netns" &&
        StatusField(pid, "PPid") == std::to_string(parent)) {
      out.push_back(pid);
    }
  }
  closedir(d);
  return out;
}

// Whether `parent` has no helper left within `limit`: a run's helper is stopped in the
// background after its init exits (sandbox/helper_reaper.h), killed after a 1 s grace.
bool NoHelpersWithin(pid_t parent, absl::Duration limit = absl::Seconds(3)) {
  const absl::Time until = absl::Now() + limit;
  while (!HelpersOf(parent).empty()) {
    if (absl::Now() >= until) return false;
    absl::SleepFor(absl::Milliseconds(20));
  }
  return true;
}

class FakehostTest : public KilndFixture {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "fakehost tests need root (unshare --net --mount)";
    auto dir = base::TempDir::Create("network-fakehost-");
    ASSERT_TRUE(dir.ok()) << dir.status();
    dir_ = std::move(*dir);
    socket_ = dir_.path() + "/run/kilnd.sock";
  }

  // Starts fakehost: servers, then kilnd (exec'd by the same shell, so kilnd_ is it) with
  // `config` (dns-servers pointing at fakehost's DNS server is added). `no_tun` hides
  // /dev/net/tun inside fakehost's own mount namespace.
  void StartFakehost(const std::string& config, bool no_tun = false) {
    const std::string t = dir_.path();
    WriteFile(t + "/kilnd.toml", "dns-servers = [\"198.51.100.1\"]\n" + config);
    WriteFile(t + "/fakehost.sh",
              absl::StrCat("set -e\nip link set lo up\nip addr add 198.51.100.1/32 dev lo\n",
                           no_tun ? "mount -t tmpfs kiln-test /dev/net\n" : "", "/usr/bin/python3 ",
                           KILN_NETWORK_TEST_DIR, "/fakehost_servers.py > ", t,
                           "/servers.out 2>&1 &\necho $! > ", t,
                           "/servers.pid\nfor i in $(seq 200); do grep -q ready ", t,
                           "/servers.out && break; sleep 0.05; done\nexec ", KilndPath(),
                           " --addr unix://", socket_, " --root ", t, "/state --config ", t,
                           "/kilnd.toml\n"));
    kilnd_ = Child::Start({"/usr/bin/unshare", "--net", "--mount", "--propagation", "private", "sh",
                           t + "/fakehost.sh"});
    const absl::Time deadline = absl::Now() + absl::Seconds(60);
    while (!engine::daemon::ConnectUnixSocket(socket_).ok() && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(20));
    }
    ASSERT_TRUE(absl::StrContains(ReadFile(t + "/servers.out"), "ready"))
        << ReadFile(t + "/servers.out");
    ProcessResult imported = kiln::testing::Run(
        Kilnctl({"image", "import", BaseImagesDir() + "/busybox-1.35", "--name", "busybox:1.35"}));
    ASSERT_EQ(imported.exit_code, 0) << imported.err;
  }

  void TearDown() override {
    if (kilnd_.pid() > 0 && !kilnd_killed_) KilndFixture::TearDown();
    int pid = 0;
    if (absl::SimpleAtoi(absl::StripAsciiWhitespace(ReadFile(dir_.path() + "/servers.pid")),
                         &pid) &&
        pid > 1) {
      kill(pid, SIGKILL);
    }
  }

  // kilnctl build of a Dockerfile with `extra` flags; returns the result (plain progress).
  ProcessResult Build(const std::string& dockerfile, std::vector<std::string> extra = {}) {
    const std::string ctx = Dir(absl::StrCat("ctx", ++builds_), {{"Dockerfile", dockerfile}});
    std::vector<std::string> argv = {"build", "--progress", "plain"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    argv.push_back(ctx);
    return kiln::testing::Run(Kilnctl(argv), {}, absl::Seconds(300));
  }

  // A wrapper for slirp4netns that runs the real one with `drop` removed from its arguments
  // (but answers --help as the real one does).
  std::string Wrapper(const std::string& name, const std::string& body) {
    const std::string path = dir_.path() + "/" + name;
    WriteFile(path, "#!/bin/sh\n" + body);
    chmod(path.c_str(), 0755);
    return path;
  }

  int builds_ = 0;
  bool kilnd_killed_ = false;
};

constexpr char kProbe[] =
    "FROM busybox:1.35\n"
    "RUN%s y=yes; n=no; for u in http://10.0.2.2:8081/ http://10.0.2.3:8081/ "
    "http://127.0.0.1:8081/; do if timeout 5 wget -q -O - $u; then echo \"$u reached=$y\"; "
    "else echo \"$u reached=$n\"; fi; done; if grep -q kiln-fakehost-secret /proc/net/unix; "
    "then echo \"abstract reached=$y\"; else echo \"abstract reached=$n\"; fi\n";

std::string Probe(const std::string& flag) {
  char buf[1024];
  snprintf(buf, sizeof buf, kProbe, flag.c_str());
  return buf;
}

// A default RUN reaches the outside server by address, and by name through the generated
// resolv.conf, which lists no loopback server. Control: an unknown name does not resolve.
TEST_F(FakehostTest, DefaultRunReachesTheOutside) {
  StartFakehost("");
  ProcessResult r = Build(
      "FROM busybox:1.35\n"
      "RUN wget -q -O - http://198.51.100.1:8080/ && nslookup mirror.test && "
      "cat /etc/resolv.conf && ls /sys/class/net && (nslookup nothere.test || echo "
      "NO-SUCH-NAME)\n");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(absl::StrContains(r.err, "outside-ok")) << r.err;
  EXPECT_TRUE(absl::StrContains(r.err, "Address: 198.51.100.1")) << r.err;
  EXPECT_TRUE(absl::StrContains(r.err, "nameserver 198.51.100.1")) << r.err;
  EXPECT_FALSE(absl::StrContains(r.err, "nameserver 127.")) << r.err;
  EXPECT_FALSE(absl::StrContains(r.err, "nameserver ::1")) << r.err;
  EXPECT_TRUE(absl::StrContains(r.err, "NO-SUCH-NAME")) << r.err;  // the control
  EXPECT_TRUE(absl::StrContains(r.err, " lo\n") && absl::StrContains(r.err, " tap0\n")) << r.err;
}

// A default RUN reaches none of fakehost's loopback: not through the gateway, not through the DNS
// address on another port, not its own 127.0.0.1, not fakehost's abstract socket. Controls:
// --network=host with the entitlement reaches the secret server and the socket; a helper
// without --disable-host-loopback reaches it through 10.0.2.2.
TEST_F(FakehostTest, DefaultRunCannotReachFakehostLoopback) {
  StartFakehost("allow-insecure-entitlements = [\"network.host\"]\n");
  ProcessResult r = Build(Probe(""));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_FALSE(absl::StrContains(r.err, "reached=yes")) << r.err;
  EXPECT_TRUE(absl::StrContains(r.err, "http://10.0.2.2:8081/ reached=no")) << r.err;
  EXPECT_TRUE(absl::StrContains(r.err, "abstract reached=no")) << r.err;
  ProcessResult host = Build(Probe(" --network=host"), {"--allow", "network.host"});
  ASSERT_EQ(host.exit_code, 0) << host.err;
  EXPECT_TRUE(absl::StrContains(host.err, "http://127.0.0.1:8081/ reached=yes")) << host.err;
  EXPECT_TRUE(absl::StrContains(host.err, "abstract reached=yes")) << host.err;
  TearDown();
  kilnd_ = Child();
  SetUp();
  const std::string lax = Wrapper(
      "lax-slirp4netns",
      "for a; do shift; [ \"$a\" = --disable-host-loopback ] || set -- \"$@\" \"$a\"; done\n"
      "exec /usr/bin/slirp4netns \"$@\"\n");
  StartFakehost(absl::StrCat("slirp4netns = \"", lax, "\"\n"));
  ProcessResult control = Build(Probe(""));
  ASSERT_EQ(control.exit_code, 0) << control.err;
  EXPECT_TRUE(absl::StrContains(control.err, "http://10.0.2.2:8081/ reached=yes")) << control.err;
}

// --network=host needs the entitlement on both sides, and fails before any step runs.
TEST_F(FakehostTest, HostNetworkNeedsTheEntitlement) {
  StartFakehost("");
  ProcessResult r = Build("FROM busybox:1.35\nRUN echo STEP-\"\"RAN\nRUN --network=host true\n",
                          {"--allow", "network.host"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_TRUE(absl::StrContains(r.err, "Dockerfile:3: RUN --network=host")) << r.err;
  EXPECT_TRUE(absl::StrContains(r.err, "allow-insecure-entitlements")) << r.err;
  EXPECT_FALSE(absl::StrContains(r.err, "STEP-RAN")) << r.err;
  r = Build("FROM busybox:1.35\nRUN echo STEP-\"\"RAN\n", {"--network=host"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_TRUE(absl::StrContains(r.err, "--allow network.host")) << r.err;
  EXPECT_FALSE(absl::StrContains(r.err, "STEP-RAN")) << r.err;
  r = Build("FROM busybox:1.35\nRUN echo STEP-\"\"RAN\n", {"--network=none"});  // the control
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(absl::StrContains(r.err, "STEP-RAN")) << r.err;
}

// Each RUN has its own netns (not fakehost's, not that of a RUN running beside it; a
// finished RUN's netns inode may be reused); the helper gets fds 0-4 and
// none of kilnd's; no helper is left after the RUN, and none survives kill -9 of kilnd.
// --network=none starts no helper.
TEST_F(FakehostTest, NamespacesAndHelperLifecycle) {
  StartFakehost("");
  char link[256] = {};
  ssize_t n = readlink(absl::StrCat("/proc/", kilnd_.pid(), "/ns/net").c_str(), link, 255);
  ASSERT_GT(n, 0);
  const std::string fakehost_ns(link, static_cast<size_t>(n));
  ProcessResult r = Build(
      "FROM busybox:1.35 AS a\nRUN readlink /proc/self/ns/net > /ns && sleep 1 && echo a\n"
      "FROM busybox:1.35 AS b\nRUN readlink /proc/self/ns/net > /ns && sleep 1 && echo b\n"
      "FROM busybox:1.35\nCOPY --from=a /ns /a\nCOPY --from=b /ns /b\n"
      "RUN echo A=$(cat /a) B=$(cat /b) C=$(readlink /proc/self/ns/net)\n");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  size_t at = r.err.find("A=net:[");
  ASSERT_NE(at, std::string::npos) << r.err;
  std::vector<std::string> ns = absl::StrSplit(r.err.substr(at, r.err.find('\n', at) - at),
                                               absl::ByAnyChar("ABC= "), absl::SkipEmpty());
  ASSERT_EQ(ns.size(), 3u) << r.err;
  EXPECT_NE(ns[0], ns[1]);
  for (const std::string& s : ns) EXPECT_NE(s, fakehost_ns);
  EXPECT_TRUE(NoHelpersWithin(kilnd_.pid()));

  // --network=none: no helper while it runs.
  Child none =
      Child::Start(Kilnctl({"build", "--progress", "plain", "--network=none",
                            Dir("none", {{"Dockerfile", "FROM busybox:1.35\nRUN sleep 3\n"}})}));
  absl::Time until = absl::Now() + absl::Seconds(2);
  bool seen = false;
  while (absl::Now() < until) {
    seen = seen || !HelpersOf(kilnd_.pid()).empty();
    absl::SleepFor(absl::Milliseconds(20));
  }
  EXPECT_FALSE(seen) << "a --network=none build started a network helper";
  EXPECT_EQ(none.Wait(absl::Seconds(60)).exit_code, 0);

  Child build =
      Child::Start(Kilnctl({"build", "--progress", "plain",
                            Dir("long", {{"Dockerfile", "FROM busybox:1.35\nRUN sleep 60\n"}})}));
  std::vector<pid_t> helpers;
  until = absl::Now() + absl::Seconds(60);
  while (helpers.empty() && absl::Now() < until) {
    helpers = HelpersOf(kilnd_.pid());
    absl::SleepFor(absl::Milliseconds(20));
  }
  ASSERT_EQ(helpers.size(), 1u) << "the control: a default RUN has a helper while it runs";
  const pid_t helper = helpers[0];
  std::vector<int> fds;
  DIR* d = opendir(absl::StrCat("/proc/", helper, "/fd").c_str());
  ASSERT_NE(d, nullptr);
  while (dirent* e = readdir(d)) {
    int fd = 0;
    if (!absl::SimpleAtoi(e->d_name, &fd)) continue;
    char target[512] = {};
    ssize_t len = readlink(absl::StrCat("/proc/", helper, "/fd/", fd).c_str(), target, 511);
    std::string t(target, len > 0 ? static_cast<size_t>(len) : 0);
    EXPECT_FALSE(absl::StrContains(t, dir_.path())) << "fd " << fd << " -> " << t;
    fds.push_back(fd);
  }
  closedir(d);
  EXPECT_GE(fds.size(), 3u);
  kill(kilnd_.pid(), SIGKILL);
  kilnd_.Wait(absl::Seconds(30));
  kilnd_killed_ = true;
  build.Wait(absl::Seconds(30));
  until = absl::Now() + absl::Seconds(10);
  while (access(absl::StrCat("/proc/", helper).c_str(), F_OK) == 0 && absl::Now() < until) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  EXPECT_NE(access(absl::StrCat("/proc/", helper).c_str(), F_OK), 0)
      << "the helper outlived kill -9 of kilnd";
}

// Rootless: kilnd runs as kiln-test (in its own user namespace) inside fakehost, and its RUN
// reaches the outside server through the helper it started. fakehost's own mount namespace gets
// a 0666 TUN node (made in the temp dir, bound over /dev/net/tun there only), as udev would make
// it; the host's /dev/net/tun is not touched. Control: the same RUN with --network=none cannot.
TEST_F(FakehostTest, DefaultRunWorksRootless) {
  TestUser user = LookupUser("kiln-test");
  ASSERT_TRUE(user.found) << "no kiln-test user: run tools/setup-test-user.sh";
  const std::string t = dir_.path();
  ASSERT_EQ(chmod(t.c_str(), 0755), 0);
  for (const std::string& bin : {KilndPath(), KilnctlPath()}) {
    ASSERT_EQ(kiln::testing::Run({"/bin/cp", bin, t + "/"}).exit_code, 0);
  }
  ASSERT_EQ(
      kiln::testing::Run({"/bin/cp", "-a", BaseImagesDir() + "/busybox-1.35", t + "/bb"}).exit_code,
      0);
  ASSERT_EQ(kiln::testing::Run({"/bin/chmod", "-R", "a+rX", t + "/bb"}).exit_code, 0);
  ASSERT_EQ(
      kiln::testing::Run({"/bin/mknod", "-m", "0666", t + "/tun", "c", "10", "200"}).exit_code, 0);
  const std::string home = t + "/home";
  ASSERT_EQ(mkdir(home.c_str(), 0700), 0);
  ASSERT_EQ(chown(home.c_str(), user.uid, user.gid), 0);
  socket_ = home + "/kilnd.sock";
  WriteFile(t + "/kilnd.toml", "dns-servers = [\"198.51.100.1\"]\n");
  std::string as_user;
  for (const std::string& a : AsUser(user, {"HOME=" + home, "XDG_RUNTIME_DIR=" + home}, {})) {
    absl::StrAppend(&as_user, a, " ");
  }
  WriteFile(t + "/fakehost.sh",
            absl::StrCat("set -e\nip link set lo up\nip addr add 198.51.100.1/32 dev lo\n",
                         "mount --bind ", t, "/tun /dev/net/tun\n/usr/bin/python3 ",
                         KILN_NETWORK_TEST_DIR, "/fakehost_servers.py > ", t,
                         "/servers.out 2>&1 &\necho $! > ", t,
                         "/servers.pid\nfor i in $(seq 200); do grep -q ready ", t,
                         "/servers.out && break; sleep 0.05; done\ncd ", home, "\nexec ", as_user,
                         t, "/kilnd --addr unix://", socket_, " --root ", home, "/state --config ",
                         t, "/kilnd.toml\n"));
  kilnd_ = Child::Start({"/usr/bin/unshare", "--net", "--mount", "--propagation", "private", "sh",
                         t + "/fakehost.sh"});
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  while (!engine::daemon::ConnectUnixSocket(socket_).ok() && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  auto kilnctl = [&](std::vector<std::string> args) {
    std::vector<std::string> argv = {t + "/kilnctl", args[0], "--addr", "unix://" + socket_};
    argv.insert(argv.end(), args.begin() + 1, args.end());
    return kiln::testing::Run(AsUser(user, {"HOME=" + home}, argv), {}, absl::Seconds(300));
  };
  ProcessResult r = kilnctl({"image", "import", t + "/bb", "--name", "busybox:1.35"});
  ASSERT_EQ(r.exit_code, 0) << r.err << ReadFile(t + "/servers.out");
  const std::string ctx =
      Dir("rl", {{"Dockerfile",
                  "FROM busybox:1.35\n"
                  "RUN wget -q -O - http://198.51.100.1:8080/ || echo NO-\"\"WAY\n"}});
  ASSERT_EQ(kiln::testing::Run({"/bin/chmod", "-R", "a+rX", ctx}).exit_code, 0);
  r = kilnctl({"build", "--progress", "plain", ctx});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(absl::StrContains(r.err, "outside-ok")) << r.err;
  r = kilnctl({"build", "--progress", "plain", "--network=none", ctx});  // the control
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(absl::StrContains(r.err, "NO-WAY")) << r.err;
  EXPECT_FALSE(absl::StrContains(r.err, "outside-ok")) << r.err;
}

// Cancelling the build (the client goes away) ends the RUN and its helper. Control: the helper
// is there while the RUN runs.
TEST_F(FakehostTest, CancelStopsTheHelper) {
  StartFakehost("");
  Child build =
      Child::Start(Kilnctl({"build", "--progress", "plain",
                            Dir("long", {{"Dockerfile", "FROM busybox:1.35\nRUN sleep 60\n"}})}));
  std::vector<pid_t> helpers;
  absl::Time until = absl::Now() + absl::Seconds(60);
  while (helpers.empty() && absl::Now() < until) {
    helpers = HelpersOf(kilnd_.pid());
    absl::SleepFor(absl::Milliseconds(20));
  }
  ASSERT_EQ(helpers.size(), 1u);
  kill(build.pid(), SIGKILL);
  build.Wait(absl::Seconds(30));
  until = absl::Now() + absl::Seconds(30);
  while (!HelpersOf(kilnd_.pid()).empty() && absl::Now() < until) {
    absl::SleepFor(absl::Milliseconds(50));
  }
  EXPECT_TRUE(HelpersOf(kilnd_.pid()).empty()) << "the helper outlived the cancelled build";
}

// A helper that fails to start gives an error with its stderr and the way out; a missing
// helper or TUN device gives a clear error; never host networking (the RUN never runs).
TEST_F(FakehostTest, NoUsableHelperIsAClearErrorNeverHost) {
  const std::string failing =
      Wrapper("failing-slirp4netns",
              "case \"$1\" in --version|--help) exec /usr/bin/slirp4netns \"$1\";; esac\n"
              "echo 'helper says: tap setup exploded' >&2\nexit 3\n");
  StartFakehost(absl::StrCat("slirp4netns = \"", failing, "\"\n"));
  ProcessResult r = Build("FROM busybox:1.35\nRUN echo STEP-\"\"RAN\n");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_TRUE(absl::StrContains(r.err, "helper says: tap setup exploded")) << r.err;
  EXPECT_TRUE(absl::StrContains(r.err, "exit status 3")) << r.err;
  EXPECT_TRUE(absl::StrContains(r.err, "--network=none")) << r.err;
  EXPECT_FALSE(absl::StrContains(r.err, "STEP-RAN")) << r.err;
  EXPECT_TRUE(NoHelpersWithin(kilnd_.pid()));
  r = Build("FROM busybox:1.35\nRUN echo STEP-\"\"RAN\n", {"--network=none"});  // the control
  EXPECT_EQ(r.exit_code, 0) << r.err;

  TearDown();
  kilnd_ = Child();
  SetUp();
  StartFakehost(absl::StrCat("slirp4netns = \"", dir_.path(), "/missing-slirp4netns\"\n"));
  r = Build("FROM busybox:1.35\nRUN echo STEP-\"\"RAN\n");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_TRUE(absl::StrContains(r.err, "not found")) << r.err;
  EXPECT_TRUE(absl::StrContains(r.err, "--network=host")) << r.err;
  EXPECT_FALSE(absl::StrContains(r.err, "STEP-RAN")) << r.err;

  TearDown();
  kilnd_ = Child();
  SetUp();
  StartFakehost("", /*no_tun=*/true);
  r = Build("FROM busybox:1.35\nRUN echo STEP-\"\"RAN\n");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_TRUE(absl::StrContains(r.err, "open '/dev/net/tun'")) << r.err;
  EXPECT_FALSE(absl::StrContains(r.err, "STEP-RAN")) << r.err;
}

}  // namespace
}  // namespace kiln::testing
