// Real builds through a real kilnd (the engine behind engine/core/engine.h) of every example in
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
#include <map>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "base/temp_dir.h"
#include "engine/daemon/socket.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
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

// The parent pid of `pid` (field 4 of /proc/PID/stat), or -1.
pid_t ParentOf(pid_t pid) {
  std::string stat = testing::ReadFile(absl::StrCat("/proc/", pid, "/stat"));
  size_t close = stat.rfind(')');
  if (close == std::string::npos) return -1;
  std::string rest = stat.substr(close + 2);  // "S PPID ..."
  std::vector<absl::string_view> fields = absl::StrSplit(rest, ' ');
  int ppid = -1;
  if (fields.size() < 2 || !absl::SimpleAtoi(fields[1], &ppid)) return -1;
  return ppid;
}

// The pid of a descendant of `ancestor` that runs exactly `argv` (e.g. a RUN step's
// `sleep 47` under our own kilnd; other processes on the machine never count), or 0.
pid_t FindDescendant(pid_t ancestor, const std::vector<std::string>& argv) {
  std::string want;
  for (const std::string& arg : argv) absl::StrAppend(&want, arg, std::string(1, '\0'));
  DIR* proc = opendir("/proc");
  if (proc == nullptr) return 0;
  pid_t found = 0;
  while (struct dirent* e = readdir(proc)) {
    pid_t pid = 0;
    if (found != 0 || !absl::SimpleAtoi(e->d_name, &pid)) continue;
    if (testing::ReadFile(absl::StrCat("/proc/", pid, "/cmdline")) != want) continue;
    for (pid_t p = ParentOf(pid), hops = 0; p > 1 && hops < 64; p = ParentOf(p), ++hops) {
      if (p == ancestor) found = pid;
    }
  }
  closedir(proc);
  return found;
}

// True once `pid` is gone (or a zombie nobody reaped yet) within `timeout`.
bool WaitUntilGone(pid_t pid, absl::Duration timeout) {
  absl::Time deadline = absl::Now() + timeout;
  for (;;) {
    std::string stat = testing::ReadFile(absl::StrCat("/proc/", pid, "/stat"));
    if (stat.empty() || absl::StrContains(stat, ") Z ")) return true;
    if (absl::Now() > deadline) return false;
    absl::SleepFor(absl::Milliseconds(50));
  }
}

// Step numbers that the plain progress printed "#N CACHED" for more than once.
std::vector<std::string> RepeatedCachedLines(const std::string& plain) {
  std::map<std::string, int> seen;
  std::vector<std::string> repeated;
  for (absl::string_view line : absl::StrSplit(plain, '\n')) {
    if (!absl::StartsWith(line, "#") || !absl::EndsWith(line, " CACHED")) continue;
    if (++seen[std::string(line)] == 2) repeated.emplace_back(line);
  }
  return repeated;
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
    // network.host is granted so that a test's RUN can reach a server on the test's 127.0.0.1
    // (a default RUN has its own network namespace, issue 16).
    const std::string config = dir_.path() + "/kilnd.toml";
    testing::WriteFile(config, "allow-insecure-entitlements = [\"network.host\"]\n");
    kilnd_ = Child::Start({KilndPath(), "--addr", "unix://" + socket_, "--root", root_,
                           "--config", config});
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
    EXPECT_TRUE(RepeatedCachedLines(run.err).empty())
        << "a step printed CACHED twice in " << context << ":\n" << run.err;
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

// `kilnctl image import|ls|rm` go through the running kilnd: what they change is what the
// daemon builds from, at once (no restart).
TEST_F(E2eTest, ImageCommandsChangeTheRunningDaemonsStore) {
  std::string layout = ImagesDir() + "/busybox-1.35";
  ProcessResult imported =
      testing::Run(Kilnctl({"image", "import", layout, "--name", "e2e/imported:7"}));
  ASSERT_EQ(imported.exit_code, 0) << imported.err;
  EXPECT_TRUE(absl::StrContains(imported.out, "imported docker.io/e2e/imported:7"))
      << imported.out;
  ProcessResult listed = testing::Run(Kilnctl({"image", "ls"}));
  ASSERT_EQ(listed.exit_code, 0) << listed.err;
  EXPECT_TRUE(absl::StrContains(listed.out, "docker.io/e2e/imported:7")) << listed.out;
  EXPECT_TRUE(absl::StrContains(listed.out, "docker.io/library/busybox:1.35")) << listed.out;

  std::string ctx = dir_.path() + "/from-imported";
  ASSERT_EQ(mkdir(ctx.c_str(), 0755), 0);
  testing::WriteFile(ctx + "/Dockerfile", "FROM e2e/imported:7\nRUN echo built > /out\n");
  Build(ctx, {"-t", "e2e/from-imported:1"});

  ProcessResult removed = testing::Run(Kilnctl({"image", "rm", "e2e/imported:7"}));
  ASSERT_EQ(removed.exit_code, 0) << removed.err;
  ProcessResult quiet = testing::Run(Kilnctl({"image", "ls", "-q"}));
  ASSERT_EQ(quiet.exit_code, 0) << quiet.err;
  EXPECT_FALSE(absl::StrContains(quiet.out, "e2e/imported:7")) << quiet.out;
  EXPECT_TRUE(absl::StrContains(quiet.out, "docker.io/e2e/from-imported:1")) << quiet.out;
  ProcessResult again = testing::Run(Kilnctl({"image", "rm", "e2e/imported:7"}));
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_TRUE(absl::StrContains(again.err, "not found")) << again.err;
  testing::WriteFile(ctx + "/Dockerfile", "FROM e2e/imported:7\nRUN echo other > /out\n");
  ProcessResult gone = testing::Run(Kilnctl({"build", "--progress", "plain", ctx}), {},
                                    absl::Seconds(600));
  EXPECT_EQ(gone.exit_code, 1) << gone.err;
  EXPECT_TRUE(absl::StrContains(gone.err, "e2e/imported:7")) << gone.err;
}

// kilnctl build --secret id=X,src=PATH: the RUN that mounts it reads the file (through kilnd),
// and the value is in no layer.
TEST_F(E2eTest, SecretReachesTheRunThatMountsIt) {
  std::string ctx = dir_.path() + "/secret";
  ASSERT_EQ(mkdir(ctx.c_str(), 0755), 0);
  std::string secret = dir_.path() + "/token.txt";
  testing::WriteFile(secret, "tok-4711\n");
  testing::WriteFile(ctx + "/Dockerfile",
                     "FROM busybox:1.35\n"
                     "RUN --mount=type=secret,id=tok cat /run/secrets/tok && echo ok > /done\n");
  std::string out = dir_.path() + "/secret-out";
  ProcessResult run = testing::Run(
      Kilnctl({"build", "--progress", "plain", "--secret", "id=tok,src=" + secret, "--output",
               "type=local,dest=" + out, ctx}),
      {}, absl::Seconds(600));
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_TRUE(absl::StrContains(run.err, "tok-4711")) << run.err;
  EXPECT_EQ(testing::ReadFile(out + "/done"), "ok\n");
  EXPECT_EQ(access((out + "/run/secrets/tok").c_str(), F_OK), -1) << "the secret reached a layer";
}

TEST_F(E2eTest, TwoClientsShareOneRunOfAStep) {
  HitCounter counter;
  std::string ctx = dir_.path() + "/shared-step";
  ASSERT_EQ(mkdir(ctx.c_str(), 0755), 0);
  testing::WriteFile(ctx + "/Dockerfile",
                     absl::StrCat("FROM busybox:1.35\nRUN --network=host sleep 2 && wget -q -O "
                                  "/hit http://127.0.0.1:", counter.port(), "/ && cat /hit\n"));
  Child a = Child::Start(
      Kilnctl({"build", "--progress", "rawjson", "--allow", "network.host", ctx}));
  Child b = Child::Start(
      Kilnctl({"build", "--progress", "rawjson", "--allow", "network.host", ctx}));
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
  // Wait until the step's sleep runs under our kilnd (not merely somewhere on the machine:
  // other suites may run the same command). Generous deadlines: on a loaded 2-core machine
  // with ASan, unpacking the base image and starting the sandbox can take long.
  pid_t daemon = kilnd_.pid();
  auto sleeping = [daemon] { return FindDescendant(daemon, {"sleep", "47"}) != 0; };
  absl::Time deadline = absl::Now() + absl::Seconds(240);
  while (!sleeping() && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(50));
  ASSERT_TRUE(sleeping()) << "the RUN step never started under kilnd (pid " << daemon << ")";
  ASSERT_EQ(kill(client.pid(), SIGKILL), 0);
  client.Wait();
  deadline = absl::Now() + absl::Seconds(60);  // the step itself would take 47 s
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
  // Kill kilnd while the step runs (not at some fixed time that a loaded machine may reach
  // before the build even starts).
  pid_t step = 0;
  absl::Time deadline = absl::Now() + absl::Seconds(240);
  while ((step = FindDescendant(kilnd_.pid(), {"sleep", "53"})) == 0 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(50));
  }
  ASSERT_NE(step, 0) << "the RUN step never started under kilnd";
  client_.reset();
  ASSERT_EQ(kill(kilnd_.pid(), SIGKILL), 0);
  kilnd_.Wait();
  EXPECT_TRUE(WaitUntilGone(step, absl::Seconds(30))) << "the step outlived kill -9 of kilnd";
  ProcessResult orphan = client.Wait(absl::Seconds(60));
  EXPECT_NE(orphan.exit_code, 0);
  StartDaemon();
  ExpectFullyCached(Build(ms, {"-t", "e2e/ms:1"}), "multi-stage after kill -9");
}

// A raw gRPC client's bad output fails the Solve before any step runs: the RUN that calls the
// loopback counter never runs for it, and runs once for the same request with a good output.
TEST_F(E2eTest, RawSolveWithABadOutputFailsBeforeAnyStepRuns) {
  HitCounter counter;
  std::string ctx = dir_.path() + "/raw-output";
  ASSERT_EQ(mkdir(ctx.c_str(), 0755), 0);
  testing::WriteFile(ctx + "/Dockerfile",
                     absl::StrCat("FROM busybox:1.35\nRUN --network=host wget -q -O /hit "
                                  "http://127.0.0.1:", counter.port(), "/ && cat /hit\n"));
  auto stub = v1::Control::NewStub(
      grpc::CreateChannel("unix:" + socket_, grpc::InsecureChannelCredentials()));
  auto solve = [&](const std::string& type, std::map<std::string, std::string> attrs) {
    v1::SolveRequest req;
    req.set_context_dir(ctx);
    req.add_entitlements("network.host");
    v1::Export* e = req.add_exports();
    e->set_type(type);
    for (const auto& [key, value] : attrs) (*e->mutable_attrs())[key] = value;
    grpc::ClientContext call;
    call.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(300));
    auto reader = stub->Solve(&call, req);
    v1::SolveStatus status;
    while (reader->Read(&status)) {
    }
    return reader->Finish();
  };
  const std::string out = dir_.path() + "/out";
  grpc::Status st = solve("tarball", {{"dest", out}});
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << st.error_message();
  st = solve("local", {{"dest", out}, {"compression", "gzip"}});
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << st.error_message();
  EXPECT_TRUE(absl::StrContains(st.error_message(), "unknown key 'compression' for type=local"))
      << st.error_message();
  st = solve("docker", {{"dest", out + ".tar"}, {"name", "a:1"}, {"tar", "false"}});
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << st.error_message();
  st = solve("oci", {{"dest", "relative.tar"}});
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << st.error_message();
  EXPECT_EQ(counter.hits(), 0) << "a step ran for a request whose output is invalid";
  st = solve("local", {{"dest", out}});
  EXPECT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(counter.hits(), 1);
  EXPECT_EQ(testing::ReadFile(out + "/hit"), "hit");
}

}  // namespace
}  // namespace kiln::engine::daemon
