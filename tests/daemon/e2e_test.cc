// Real builds through a real kilnd (the engine behind engine/build/engine.h) of every example in
// $KILN_SHARED_DIR/examples, driven by the real kilnctl. Runs as root, and as kiln-test through
// tests/run_as_user.sh (the "rootless" ctest entry), where kilnd is a rootless daemon.
// Base images come from tools/images/build.sh ($KILN_IMAGES_DIR or /var/cache/kiln/images).
#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "base/temp_dir.h"
#include "engine/daemon/socket.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/daemon/test_util.h"
#include "tools/kilnctl/client.h"

namespace kiln::engine::daemon {
namespace {

using ::kiln::testing::Child;
using ::kiln::testing::KilndPath;
using ::kiln::testing::KilnctlPath;
using ::kiln::testing::ProcessResult;

std::string SharedDir() {
  const char* dir = std::getenv("KILN_SHARED_DIR");
  return dir != nullptr ? dir : "/work/shared";
}

std::string ImagesDir() {
  const char* dir = std::getenv("KILN_IMAGES_DIR");
  if (dir != nullptr && *dir != '\0') return dir;
  return "/var/cache/kiln/images";
}

bool WaitForSocket(const std::string& path, absl::Duration timeout) {
  absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    if (ConnectUnixSocket(path).ok()) return true;
    absl::SleepFor(absl::Milliseconds(20));
  }
  return false;
}

// Mount points under `prefix` in our mount namespace.
std::vector<std::string> MountsUnder(const std::string& prefix) {
  std::vector<std::string> found;
  for (absl::string_view line :
       absl::StrSplit(testing::ReadFile("/proc/self/mountinfo"), '\n', absl::SkipEmpty())) {
    std::vector<absl::string_view> fields = absl::StrSplit(line, ' ');
    if (fields.size() > 4 && absl::StartsWith(fields[4], prefix)) {
      found.emplace_back(fields[4]);
    }
  }
  return found;
}

// Counts HTTP requests on a loopback port; RUN steps call it with busybox wget.
class HitCounter {
 public:
  HitCounter() {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    socklen_t len = sizeof(addr);
    getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    listen(fd_, 16);
    thread_ = std::thread([this] {
      for (;;) {
        int conn = accept(fd_, nullptr, nullptr);
        if (conn < 0) return;
        char buf[1024];
        (void)!read(conn, buf, sizeof(buf));
        const char reply[] = "HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nhit";
        (void)!write(conn, reply, sizeof(reply) - 1);
        close(conn);
        ++hits_;
      }
    });
  }
  ~HitCounter() {
    shutdown(fd_, SHUT_RDWR);
    close(fd_);
    thread_.join();
  }
  int port() const { return port_; }
  int hits() const { return hits_; }

 private:
  int fd_ = -1;
  int port_ = 0;
  std::atomic<int> hits_{0};
  std::thread thread_;
};

class E2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = base::TempDir::Create("kiln-e2e-");
    ASSERT_TRUE(dir.ok());
    dir_ = std::move(*dir);
    socket_ = dir_.path() + "/run/kilnd.sock";
    root_ = dir_.path() + "/state";
    StartDaemon();
    for (const char* image : {"busybox-1.35", "golang-1.19"}) {
      std::string path = ImagesDir() + "/" + image;
      ASSERT_EQ(access(path.c_str(), R_OK), 0)
          << "base image " << path << " is missing: run tools/images/build.sh";
      std::string ref = image;
      ref[ref.find('-')] = ':';
      auto refs = client_->ImageImport(path, ref);
      ASSERT_TRUE(refs.ok()) << "import " << path << ": " << refs.status();
    }
  }
  void TearDown() override {
    client_.reset();
    if (kilnd_.pid() > 0) {
      kill(kilnd_.pid(), SIGTERM);
      ProcessResult done = kilnd_.Wait(absl::Seconds(60));
      EXPECT_EQ(done.exit_code, 0) << done.err;
    }
    EXPECT_TRUE(MountsUnder(dir_.path()).empty()) << "leaked mounts under " << dir_.path();
  }

  void StartDaemon() {
    kilnd_ = Child::Start({KilndPath(), "--addr", "unix://" + socket_, "--root", root_,
                           "--config", "/dev/null"});
    ASSERT_TRUE(WaitForSocket(socket_, absl::Seconds(60)))
        << "kilnd did not come up: " << kilnd_.Wait(absl::Seconds(1)).err;
    auto client = tools::DaemonClient::Connect(tools::ClientOptions{"unix://" + socket_});
    ASSERT_TRUE(client.ok()) << client.status();
    client_ = std::move(*client);
  }

  std::vector<std::string> Kilnctl(std::vector<std::string> args) {
    std::vector<std::string> argv = {KilnctlPath(), args[0], "--addr", "unix://" + socket_};
    argv.insert(argv.end(), args.begin() + 1, args.end());
    return argv;
  }

  // Builds `context` (with the given extra args) and returns the parsed metadata file.
  nlohmann::json Build(const std::string& context, std::vector<std::string> extra = {}) {
    std::string meta = dir_.path() + "/meta.json";
    unlink(meta.c_str());
    std::vector<std::string> args = {"build", "--progress", "plain", "--metadata-file", meta};
    args.insert(args.end(), extra.begin(), extra.end());
    args.push_back(context);
    ProcessResult run = testing::Run(Kilnctl(args), {}, absl::Seconds(600));
    EXPECT_EQ(run.exit_code, 0) << "build " << context << ":\n" << run.err;
    nlohmann::json doc = nlohmann::json::parse(testing::ReadFile(meta), nullptr, false);
    return doc.is_discarded() ? nlohmann::json::object() : doc;
  }

  // Copies an example into the temp dir (so tests may edit it).
  std::string Example(const std::string& name) {
    std::string dest = dir_.path() + "/" + name;
    ProcessResult cp = testing::Run({"cp", "-r", SharedDir() + "/examples/" + name, dest});
    EXPECT_EQ(cp.exit_code, 0) << cp.err;
    ProcessResult writable = testing::Run({"chmod", "-R", "u+w", dest});  // shared/ is read-only
    EXPECT_EQ(writable.exit_code, 0) << writable.err;
    return dest;
  }

  base::TempDir dir_;
  std::string socket_;
  std::string root_;
  Child kilnd_;
  std::unique_ptr<tools::DaemonClient> client_;
};

// A no-op rebuild runs no step: every RUN, COPY and ADD step is a cache hit. (Source steps
// such as "FROM scratch" and "load build context" are reported as done, not cached; they do
// no work.)
void ExpectFullyCached(const nlohmann::json& meta, const std::string& what) {
  ASSERT_TRUE(meta.contains("kiln.build.steps")) << what << ": " << meta.dump();
  int work_steps = 0;
  for (const auto& step : meta["kiln.build.steps"]) {
    std::string name = step["name"].get<std::string>();
    if (!absl::StrContains(name, "] RUN ") && !absl::StrContains(name, "] COPY ") &&
        !absl::StrContains(name, "] ADD ")) {
      continue;
    }
    ++work_steps;
    EXPECT_TRUE(step["cached"].get<bool>()) << what << ": step ran again: " << name;
  }
  EXPECT_GT(work_steps, 0) << what << ": no RUN/COPY/ADD step reported: " << meta.dump();
}

TEST_F(E2eTest, EveryExampleBuildsAndRebuildsFromCache) {
  for (const char* name : {"normal-build", "multi-stage", "multi-stage-busybox", "http-server",
                           "parallel-stages", "non-root"}) {
    SCOPED_TRACE(name);
    std::string context = SharedDir() + "/examples/" + name;
    std::string out = absl::StrCat(dir_.path(), "/", name, ".tar");
    nlohmann::json first = Build(context, {"-t", absl::StrCat("e2e/", name, ":1"), "--output",
                                           "type=oci,dest=" + out});
    EXPECT_TRUE(first.contains("containerimage.digest")) << first.dump();
    struct stat st;
    EXPECT_EQ(stat(out.c_str(), &st), 0) << "no oci archive at " << out;
    ExpectFullyCached(Build(context, {"-t", absl::StrCat("e2e/", name, ":1")}), name);
  }
  // big-context: 10,000 generated files.
  std::string big = dir_.path() + "/big-context";
  ProcessResult gen = testing::Run({"sh", SharedDir() + "/examples/big-context/make-context.sh",
                                    big}, {}, absl::Seconds(300));
  ASSERT_EQ(gen.exit_code, 0) << gen.err;
  Build(big, {"-t", "e2e/big:1"});
  ExpectFullyCached(Build(big, {"-t", "e2e/big:1"}), "big-context");
  // builder-pattern: build the builder, copy the binary out, build the runtime around it.
  std::string bp = Example("builder-pattern");
  Build(bp, {"-f", bp + "/Dockerfile.build", "--output", "type=local,dest=" + bp + "/out"});
  ProcessResult copy = testing::Run({"cp", bp + "/out/myapp/welcome", bp + "/welcome"});
  ASSERT_EQ(copy.exit_code, 0) << copy.err << "\nexported tree:\n"
                               << testing::Run({"ls", "-lanR", bp + "/out"}).out;
  nlohmann::json final_image = Build(bp, {"-t", "e2e/builder-pattern:1"});
  EXPECT_TRUE(final_image.contains("containerimage.digest")) << final_image.dump();
}

TEST_F(E2eTest, TwoClientsShareOneRunOfAStep) {
  HitCounter counter;
  std::string ctx = dir_.path() + "/shared-step";
  ASSERT_EQ(mkdir(ctx.c_str(), 0755), 0);
  testing::WriteFile(ctx + "/Dockerfile",
                     absl::StrCat("FROM busybox:1.35\nRUN sleep 2 && wget -q -O /hit "
                                  "http://127.0.0.1:", counter.port(), "/ && cat /hit\n"));
  Child a = Child::Start(Kilnctl({"build", "--progress", "rawjson", ctx}));
  Child b = Child::Start(Kilnctl({"build", "--progress", "rawjson", ctx}));
  ProcessResult ra = a.Wait(absl::Seconds(300));
  ProcessResult rb = b.Wait(absl::Seconds(300));
  ASSERT_EQ(ra.exit_code, 0) << ra.err;
  ASSERT_EQ(rb.exit_code, 0) << rb.err;
  EXPECT_EQ(counter.hits(), 1) << "the shared RUN step ran " << counter.hits() << " times";
}

TEST_F(E2eTest, KilledClientCancelsItsBuildAndTheDaemonStaysHealthy) {
  std::string ctx = dir_.path() + "/slow";
  ASSERT_EQ(mkdir(ctx.c_str(), 0755), 0);
  testing::WriteFile(ctx + "/Dockerfile", "FROM busybox:1.35\nRUN sleep 47 && echo never\n");
  Child client = Child::Start(Kilnctl({"build", "--progress", "plain", ctx}));
  // Wait until the sleep runs somewhere on the machine.
  auto sleeping = [] {
    DIR* proc = opendir("/proc");
    bool found = false;
    while (struct dirent* e = readdir(proc)) {
      std::string cmd = testing::ReadFile(absl::StrCat("/proc/", e->d_name, "/cmdline"));
      if (cmd == std::string("sleep\0" "47\0", 9)) found = true;
    }
    closedir(proc);
    return found;
  };
  absl::Time deadline = absl::Now() + absl::Seconds(120);
  while (!sleeping() && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(50));
  ASSERT_TRUE(sleeping()) << "the RUN step never started";
  ASSERT_EQ(kill(client.pid(), SIGKILL), 0);
  client.Wait();
  deadline = absl::Now() + absl::Seconds(20);
  while (sleeping() && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(50));
  EXPECT_FALSE(sleeping()) << "the cancelled build's process is still running";
  EXPECT_TRUE(client_->Health(absl::Seconds(5)).ok());
  Build(SharedDir() + "/examples/multi-stage-busybox");
}

TEST_F(E2eTest, KillDashNineMidBuildThenRestartAndCachedRebuild) {
  std::string ms = SharedDir() + "/examples/multi-stage";
  Build(ms, {"-t", "e2e/ms:1"});
  std::string ctx = dir_.path() + "/slow";
  ASSERT_EQ(mkdir(ctx.c_str(), 0755), 0);
  testing::WriteFile(ctx + "/Dockerfile", "FROM busybox:1.35\nRUN sleep 53\n");
  Child client = Child::Start(Kilnctl({"build", "--progress", "rawjson", ctx}));
  absl::SleepFor(absl::Seconds(3));
  client_.reset();
  ASSERT_EQ(kill(kilnd_.pid(), SIGKILL), 0);
  kilnd_.Wait();
  ProcessResult orphan = client.Wait(absl::Seconds(30));
  EXPECT_NE(orphan.exit_code, 0);
  StartDaemon();
  ExpectFullyCached(Build(ms, {"-t", "e2e/ms:1"}), "multi-stage after kill -9");
}

}  // namespace
}  // namespace kiln::engine::daemon
