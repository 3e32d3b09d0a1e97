// More end-to-end behaviour: every shared example, targets, exports, incremental rebuilds,
// early cutoff, reproducibility and cancellation.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <thread>

#include "base/userns.h"
#include "engine/solver/cancellation.h"
#include "tests/integration/engine_fixture.h"

namespace kiln::testing {
namespace {


std::string HttpGet(int port, const std::string& path) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string out;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
    std::string req = "GET " + path + " HTTP/1.0\r\nHost: localhost\r\n\r\n";
    (void)!::write(fd, req.data(), req.size());
    char buf[4096];
    ssize_t n;
    while ((n = ::read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

int FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

TEST_F(EngineTest, HttpServerAnswersItsRoutesAsUser65534) {
  auto req = Request(Example("http-server"));
  req.exports = {engine::ImageOutput{{"e2e/http:1"}}};
  auto r = engine_->Build(req, nullptr, nullptr);
  ASSERT_TRUE(r.ok()) << r.status();
  int port = FreePort();
  engine::solver::Cancellation cancel;
  absl::StatusOr<int> rc;
  std::string out;
  std::thread server([&] {
    engine::Engine::RunOptions o;
    o.env = {"PORT=" + std::to_string(port)};
    o.network = "host";
    o.timeout = absl::Seconds(60);
    o.cancel = &cancel;
    o.on_stdout = [&](std::string_view s) { out.append(s); };
    o.on_stderr = [&](std::string_view s) { out.append(s); };
    rc = engine_->RunImage("e2e/http:1", o);
  });
  std::string home;
  for (int i = 0; i < 200 && home.find("Home Page") == std::string::npos; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    home = HttpGet(port, "/");
  }
  std::string contact = HttpGet(port, "/contact");
  std::string login = HttpGet(port, "/login");
  cancel.Cancel();
  server.join();
  EXPECT_NE(home.find("<h1>Home Page</h1>"), std::string::npos) << home << out;
  EXPECT_NE(contact.find("<h1>Contact Us</h1>"), std::string::npos) << contact;
  EXPECT_NE(login.find("<h1>Login Page</h1>"), std::string::npos) << login;
  EXPECT_TRUE(rc.ok()) << rc.status();
}

TEST_F(EngineTest, NonRootImageRunsAsItsUser) {
  auto req = Request(Example("non-root"));
  req.exports = {engine::ImageOutput{{"e2e/non-root:1"}}};
  auto r = engine_->Build(req, nullptr, nullptr);
  ASSERT_TRUE(r.ok()) << r.status();
  int code = -1;
  std::string out = Run("e2e/non-root:1", {}, &code);
  EXPECT_EQ(code, 0) << out;
  EXPECT_EQ(out.rfind("user: app id: ", 0), 0u) << out;
  EXPECT_EQ(out.find("id: 0\n"), std::string::npos) << "must not run as root: " << out;
}

TEST_F(EngineTest, TargetBuilderExportsTheBuilderAndTheRuntimeUsesIndexZero) {
  auto dir = base::TempDir::Create("kiln-e2e-out-");
  ASSERT_TRUE(dir.ok());
  auto req = Request(Example("multi-stage-busybox"));
  req.target = "builder";
  req.exports = {engine::LocalOutput{dir->path() + "/builder"}};
  auto r = engine_->Build(req, nullptr, nullptr);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(Exists(dir->path() + "/builder/myapp/welcome"));
  EXPECT_TRUE(Exists(dir->path() + "/builder/usr/local/go")) << "the builder has the toolchain";

  auto rt = Request(Example("multi-stage-busybox"));
  rt.exports = {engine::ImageOutput{{"e2e/msb:1"}}};
  ASSERT_TRUE(engine_->Build(rt, nullptr, nullptr).ok());
  int code = -1;
  EXPECT_NE(Run("e2e/msb:1", {}, &code).find("Welcome"), std::string::npos);
  EXPECT_EQ(code, 0);
}

TEST_F(EngineTest, BuilderPatternBinaryIsByteIdenticalToMultiStage) {
  auto dir = base::TempDir::Create("kiln-e2e-bp-");
  ASSERT_TRUE(dir.ok());
  // Old way: build Dockerfile.build, copy the binary out, build the runtime around it.
  auto build = Request(Example("builder-pattern"));
  build.dockerfile_name = "Dockerfile.build";
  build.exports = {engine::LocalOutput{dir->path() + "/builder"}};
  ASSERT_TRUE(engine_->Build(build, nullptr, nullptr).ok());
  std::string ctx = dir->path() + "/runtime-ctx";
  ASSERT_EQ(::mkdir(ctx.c_str(), 0755), 0);
  std::string df = ReadFile(Example("builder-pattern") + "/Dockerfile");
  WriteFile(ctx + "/Dockerfile", df);
  std::string bin = ReadFile(dir->path() + "/builder/myapp/welcome");
  ASSERT_FALSE(bin.empty());
  { std::ofstream(ctx + "/welcome", std::ios::binary) << bin; }
  ASSERT_EQ(::chmod((ctx + "/welcome").c_str(), 0755), 0);
  auto rt = Request(ctx);
  rt.exports = {engine::ImageOutput{{"e2e/bp:1"}}};
  ASSERT_TRUE(engine_->Build(rt, nullptr, nullptr).ok());
  int code = -1;
  EXPECT_NE(Run("e2e/bp:1", {}, &code).find("Welcome"), std::string::npos);

  // New way: the multi-stage image's binary.
  auto ms = Request(Example("multi-stage"));
  ms.exports = {engine::LocalOutput{dir->path() + "/ms"}};
  ASSERT_TRUE(engine_->Build(ms, nullptr, nullptr).ok());
  EXPECT_EQ(ReadFile(dir->path() + "/ms/myapp/welcome"), bin) << "binaries differ";
}

TEST_F(EngineTest, OneFileChangeRerunsOnlyDependentSteps) {
  auto dir = base::TempDir::Create("kiln-e2e-edit-");
  ASSERT_TRUE(dir.ok());
  CopyExample(Example("multi-stage"), dir->path());
  auto req = Request(dir->path());
  ASSERT_TRUE(engine_->Build(req, nullptr, nullptr).ok());
  std::string src = ReadFile(dir->path() + "/welcome.go");
  size_t at = src.find("Welcome");
  ASSERT_NE(at, std::string::npos);
  src.replace(at, 7, "Hello  ");
  WriteFile(dir->path() + "/welcome.go", src);
  EventLog log;
  ASSERT_TRUE(engine_->Build(req, log.Sink(), nullptr).ok());
  std::vector<std::string> ran;
  for (const auto& s : log.Executed()) {
    if (s.find("context") == std::string::npos) ran.push_back(s);
  }
  ASSERT_EQ(ran.size(), 3u) << "expected COPY welcome.go, RUN go build, COPY --from";
  EXPECT_NE(ran[0].find("COPY welcome.go"), std::string::npos) << ran[0];
  EXPECT_NE(ran[1].find("RUN CGO_ENABLED=0 go build"), std::string::npos) << ran[1];
  EXPECT_NE(ran[2].find("COPY --from=builder"), std::string::npos) << ran[2];
}

TEST_F(EngineTest, IdenticalBuilderOutputLeavesTheRuntimeStageCached) {
  auto dir = base::TempDir::Create("kiln-e2e-cutoff-");
  ASSERT_TRUE(dir.ok());
  WriteFile(dir->path() + "/Dockerfile",
            "FROM busybox:1.35 AS builder\n"
            "COPY a.txt /a.txt\n"
            "RUN wc -c < /a.txt > /len\n"
            "FROM busybox:1.35\n"
            "COPY --from=builder /len /len\n"
            "RUN cat /len > /copied\n");
  WriteFile(dir->path() + "/a.txt", "12345");
  auto req = Request(dir->path());
  ASSERT_TRUE(engine_->Build(req, nullptr, nullptr).ok());
  WriteFile(dir->path() + "/a.txt", "abcde");  // same length: same /len
  EventLog log;
  ASSERT_TRUE(engine_->Build(req, log.Sink(), nullptr).ok());
  bool builder_ran = false;
  for (const auto& s : log.Executed()) {
    if (s.find("RUN wc -c") != std::string::npos) builder_ran = true;
    EXPECT_EQ(s.find("COPY --from=builder"), std::string::npos) << "runtime copy re-ran";
    EXPECT_EQ(s.find("RUN cat /len"), std::string::npos) << "runtime RUN re-ran";
  }
  EXPECT_TRUE(builder_ran) << "the builder must rebuild after its input changed";
}

TEST_F(EngineTest, ExportsAreReadableByStandardTools) {
  auto dir = base::TempDir::Create("kiln-e2e-exp-");
  ASSERT_TRUE(dir.ok());
  const std::string d = dir->path();
  auto req = Request(Example("multi-stage"));
  req.exports = {engine::OciArchiveOutput{d + "/oci.tar"},
                 engine::OciLayoutOutput{d + "/layout", "kiln/ms:1"},
                 engine::DockerArchiveOutput{d + "/docker.tar", "kiln/ms:1"}};
  auto r = engine_->Build(req, nullptr, nullptr);
  ASSERT_TRUE(r.ok()) << r.status();
  for (const std::string& ref : {"oci-archive:" + d + "/oci.tar", "oci:" + d + "/layout",
                                 "docker-archive:" + d + "/docker.tar"}) {
    std::string cmd = "skopeo inspect --raw " + ref + " > " + d + "/inspect.out 2>&1";
    EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd << ": " << ReadFile(d + "/inspect.out");
  }
  std::string unpack = "umoci unpack " + std::string(base::InUserNamespace() ? "--rootless " : "") +
                       "--image " + d + "/layout:kiln/ms:1 " + d + "/bundle > " + d + "/umoci.out 2>&1";
  EXPECT_EQ(std::system(unpack.c_str()), 0) << unpack << ": " << ReadFile(d + "/umoci.out");
  EXPECT_TRUE(Exists(d + "/bundle/rootfs/myapp/welcome"));
}

TEST_F(EngineTest, SourceDateEpochMakesNoCacheBuildsReproducible) {
  auto req = Request(Example("parallel-stages"));
  req.no_cache = true;
  req.build_args["SOURCE_DATE_EPOCH"] = "1700000000";
  req.exports = {engine::ImageOutput{{"e2e/repro:1"}}};
  auto a = engine_->Build(req, nullptr, nullptr);
  ASSERT_TRUE(a.ok()) << a.status();
  auto b = engine_->Build(req, nullptr, nullptr);
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(a->manifest_digest, b->manifest_digest);
}

TEST_F(EngineTest, CancelStopsABuildPromptly) {
  auto dir = base::TempDir::Create("kiln-e2e-cancel-");
  ASSERT_TRUE(dir.ok());
  WriteFile(dir->path() + "/Dockerfile", "FROM busybox:1.35\nRUN sleep 30\n");
  engine::solver::Cancellation cancel;
  std::thread t([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(700));
    cancel.Cancel();
  });
  auto start = std::chrono::steady_clock::now();
  auto r = engine_->Build(Request(dir->path()), nullptr, &cancel);
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  t.join();
  EXPECT_EQ(r.status().code(), absl::StatusCode::kCancelled) << r.status();
  EXPECT_LT(secs, 15.0);
  std::string mounts = ReadFile("/proc/self/mountinfo");
  EXPECT_EQ(mounts.find(root_->path()), std::string::npos) << "leaked mount under the state root";
}

}  // namespace
}  // namespace kiln::testing

namespace kiln::testing {
namespace {

TEST_F(EngineTest, PruneFreesTheCacheButKeepsImagesRunnable) {
  auto req = Request(Example("multi-stage"));
  req.exports = {engine::ImageOutput{{"e2e/prune:1"}}};
  ASSERT_TRUE(engine_->Build(req, nullptr, nullptr).ok());
  auto du = engine_->DiskUsage();
  ASSERT_TRUE(du.ok()) << du.status();
  EXPECT_FALSE(du->empty());
  engine::PruneOptions all;
  all.all = true;
  auto report = engine_->Prune(all);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_GT(report->records_removed, 0);
  EXPECT_GT(report->bytes_freed, 0);
  auto after = engine_->DiskUsage();
  ASSERT_TRUE(after.ok());
  std::string left;
  for (const auto& u : *after) left += "\n  " + u.kind + " " + u.description + " " + u.id;
  EXPECT_TRUE(after->empty()) << after->size() << " records left:" << left;
  int code = -1;
  EXPECT_NE(Run("e2e/prune:1", {}, &code).find("Welcome"), std::string::npos)
      << "the image's blobs must survive a prune";
  // The cache repairs itself: the next build runs again and succeeds.
  EventLog log;
  ASSERT_TRUE(engine_->Build(req, log.Sink(), nullptr).ok());
  EXPECT_FALSE(log.Executed().empty());
}

}  // namespace
}  // namespace kiln::testing
