// The daemon service over a REAL Unix socket in a temp dir, with the fake engine, called by
// kilnctl's client library (and by the kilnctl binary for process-level cases).
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <map>
#include <thread>

#include "absl/strings/match.h"
#include "base/fs.h"
#include "base/temp_dir.h"
#include "engine/daemon/convert.h"
#include "engine/daemon/server.h"
#include "engine/daemon/socket.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "tests/daemon/test_util.h"
#include "tests/fakes/fake_engine.h"
#include "tools/kilnctl/client.h"

namespace kiln::engine::daemon {
namespace {

using ::kiln::testing::Child;
using ::kiln::testing::KilnctlPath;
using ::kiln::tools::ClientOptions;
using ::kiln::tools::DaemonClient;

std::vector<FakeStep> ThreeSteps() {
  return {FakeStep{"[internal] load build definition from Dockerfile", true},
          FakeStep{"[builder 1/2] RUN echo hello", false, {"hello", "world"},
                   absl::Milliseconds(20), false, 0},
          FakeStep{"[builder 2/2] RUN make", false, {"built"}, absl::Milliseconds(20), false, 1}};
}

class ServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = base::TempDir::Create("kiln-daemon-");
    ASSERT_TRUE(dir.ok()) << dir.status();
    dir_ = std::move(*dir);
    socket_ = dir_.path() + "/run/kilnd.sock";
    context_ = dir_.path() + "/ctx";
    ASSERT_EQ(mkdir(context_.c_str(), 0755), 0);
    // kilnd opens the Dockerfile itself (as the caller) before the engine runs.
    FILE* df = fopen((context_ + "/Dockerfile").c_str(), "w");
    ASSERT_NE(df, nullptr);
    fputs("FROM scratch\n", df);
    fclose(df);
    engine_.SetSteps(ThreeSteps());
  }
  void TearDown() override {
    if (server_ != nullptr) server_->Shutdown(absl::Seconds(5));
  }

  void StartServer(std::vector<unsigned> allow_uids = {}) {
    ServerOptions options;
    options.socket_path = socket_;
    options.root = dir_.path() + "/root";
    options.allow_uids = std::move(allow_uids);
    auto server = DaemonServer::Start(&engine_, options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
  }

  std::unique_ptr<DaemonClient> Connect() {
    auto client = DaemonClient::Connect(ClientOptions{"unix://" + socket_});
    EXPECT_TRUE(client.ok()) << client.status();
    return client.ok() ? std::move(*client) : nullptr;
  }

  BuildRequest Request() const {
    BuildRequest request;
    request.context_dir = context_;
    request.exports.push_back(ImageOutput{{"app:1"}});
    request.build_args["A"] = "1";
    return request;
  }

  base::TempDir dir_;
  std::string socket_;
  std::string context_;
  FakeEngine engine_;
  std::unique_ptr<DaemonServer> server_;
};

TEST_F(ServerTest, SolveStreamsEventsAndResult) {
  StartServer();
  auto client = Connect();
  ASSERT_NE(client, nullptr);
  std::vector<BuildEvent> events;
  auto result = client->Solve(Request(), [&](const BuildEvent& e) { events.push_back(e); });
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->steps_total, 3);
  EXPECT_EQ(result->steps_cached, 1);
  EXPECT_EQ(result->manifest_digest, base::Digest::Of("fake manifest"));
  ASSERT_EQ(result->steps.size(), 3u);
  // cached+completed, started+2 logs+completed, started+log+completed
  ASSERT_EQ(events.size(), 9u);
  EXPECT_EQ(events[0].kind, BuildEventKind::kCached);
  EXPECT_EQ(events[2].kind, BuildEventKind::kStarted);
  EXPECT_EQ(events[2].index, 2);
  EXPECT_EQ(events[2].name, "[builder 1/2] RUN echo hello");
  EXPECT_EQ(events[3].kind, BuildEventKind::kLog);
  EXPECT_EQ(events[3].data, "hello\n");
  EXPECT_EQ(events[8].kind, BuildEventKind::kCompleted);
  EXPECT_EQ(events[8].worker, 1);
  BuildRequest seen = engine_.last_request();
  EXPECT_EQ(seen.context_dir, context_);
  EXPECT_EQ(seen.build_args.at("A"), "1");
  ASSERT_EQ(seen.exports.size(), 1u);
  const auto* image = std::get_if<ImageOutput>(&seen.exports[0]);
  ASSERT_NE(image, nullptr);
  EXPECT_EQ(image->names, std::vector<std::string>{"app:1"});
}

TEST_F(ServerTest, FailingStepReturnsItsErrorAndEvents) {
  auto steps = ThreeSteps();
  steps[2].fail = true;
  engine_.SetSteps(steps);
  StartServer();
  auto client = Connect();
  ASSERT_NE(client, nullptr);
  std::vector<BuildEvent> events;
  auto result = client->Solve(Request(), [&](const BuildEvent& e) { events.push_back(e); });
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kAborted);
  EXPECT_TRUE(absl::StrContains(result.status().message(), "Dockerfile:4")) << result.status();
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back().kind, BuildEventKind::kError);
}

TEST_F(ServerTest, TwoClientsAtOnce) {
  auto steps = ThreeSteps();
  steps[1].duration = absl::Milliseconds(400);
  engine_.SetSteps(steps);
  StartServer();
  absl::StatusOr<BuildResult> results[2] = {absl::UnknownError(""), absl::UnknownError("")};
  std::thread threads[2];
  for (int i = 0; i < 2; ++i) {
    threads[i] = std::thread([&, i] {
      auto client = DaemonClient::Connect(ClientOptions{"unix://" + socket_});
      if (!client.ok()) {
        results[i] = client.status();
        return;
      }
      results[i] = (*client)->Solve(Request(), nullptr);
    });
  }
  for (auto& t : threads) t.join();
  ASSERT_TRUE(results[0].ok()) << results[0].status();
  ASSERT_TRUE(results[1].ok()) << results[1].status();
  EXPECT_EQ(engine_.builds_started(), 2);
  EXPECT_EQ(engine_.max_concurrent(), 2) << "the two builds did not overlap";
}

TEST_F(ServerTest, ClientCancelReachesTheBuild) {
  engine_.SetBlockUntilCancelled(true);
  StartServer();
  auto client = Connect();
  ASSERT_NE(client, nullptr);
  absl::StatusOr<BuildResult> result = absl::UnknownError("");
  std::thread solve([&] { result = client->Solve(Request(), nullptr); });
  ASSERT_TRUE(engine_.WaitForRunning(1, absl::Seconds(10)));
  client->Cancel();
  solve.join();
  EXPECT_EQ(result.status().code(), absl::StatusCode::kCancelled) << result.status();
  ASSERT_TRUE(engine_.WaitForIdle(absl::Seconds(10)));
  EXPECT_EQ(engine_.builds_cancelled(), 1);
  absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (server_->service().ActiveBuilds() != 0 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_EQ(server_->service().ActiveBuilds(), 0);
  // The daemon is healthy afterwards.
  EXPECT_TRUE(client->Health(absl::Seconds(5)).ok());
}

TEST_F(ServerTest, KilledClientProcessCancelsItsBuild) {
  engine_.SetBlockUntilCancelled(true);
  StartServer();
  Child kilnctl = Child::Start({KilnctlPath(), "build", "--progress", "plain", "--addr",
                                "unix://" + socket_, context_});
  ASSERT_GT(kilnctl.pid(), 0);
  ASSERT_TRUE(engine_.WaitForRunning(1, absl::Seconds(30))) << "kilnctl never reached the daemon";
  ASSERT_EQ(kill(kilnctl.pid(), SIGKILL), 0);
  kilnctl.Wait();
  ASSERT_TRUE(engine_.WaitForIdle(absl::Seconds(10))) << "the build was not cancelled";
  EXPECT_EQ(engine_.builds_cancelled(), 1);
}

TEST_F(ServerTest, CtrlCInKilnctlCancelsTheBuild) {
  engine_.SetBlockUntilCancelled(true);
  StartServer();
  Child kilnctl = Child::Start({KilnctlPath(), "build", "--progress", "plain", "--addr",
                                "unix://" + socket_, context_});
  ASSERT_TRUE(engine_.WaitForRunning(1, absl::Seconds(30)));
  ASSERT_EQ(kill(kilnctl.pid(), SIGINT), 0);
  auto done = kilnctl.Wait(absl::Seconds(20));
  EXPECT_EQ(done.exit_code, 130) << done.err;
  ASSERT_TRUE(engine_.WaitForIdle(absl::Seconds(10)));
  EXPECT_EQ(engine_.builds_cancelled(), 1);
}

TEST_F(ServerTest, ShutdownCancelsRunningBuilds) {
  engine_.SetBlockUntilCancelled(true);
  StartServer();
  auto client = Connect();
  ASSERT_NE(client, nullptr);
  absl::StatusOr<BuildResult> result = absl::UnknownError("");
  std::thread solve([&] { result = client->Solve(Request(), nullptr); });
  ASSERT_TRUE(engine_.WaitForRunning(1, absl::Seconds(10)));
  server_->Shutdown(absl::Seconds(5));
  solve.join();
  EXPECT_FALSE(result.ok());
  EXPECT_EQ(engine_.builds_cancelled(), 1);
  EXPECT_EQ(engine_.builds_running(), 0);
  struct stat st;
  EXPECT_NE(lstat(socket_.c_str(), &st), 0) << "socket file left behind";
}

TEST_F(ServerTest, ManagementCalls) {
  engine_.SetImages({ImageSummary{"busybox:1.35", base::Digest::Of("bb"), 900000, 1700000000}});
  engine_.SetUsage({UsageRecord{"sha256:aa", "snapshot", "RUN make", 1000, 1700000000, false,
                                false},
                    UsageRecord{"sha256:bb", "blob", "", 500, 1700000000, true, true}});
  StartServer();
  auto client = Connect();
  ASSERT_NE(client, nullptr);
  auto info = client->Info();
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->pid(), getpid());
  EXPECT_EQ(info->address(), "unix://" + socket_);
  ASSERT_EQ(info->worker_size(), 2);
  EXPECT_EQ(info->worker(0).value(), "fake");
  auto images = client->ImageList();
  ASSERT_TRUE(images.ok());
  ASSERT_EQ(images->size(), 1u);
  EXPECT_EQ((*images)[0].ref, "busybox:1.35");
  auto imported = client->ImageImport(context_, "mine:1");
  ASSERT_TRUE(imported.ok()) << imported.status();
  EXPECT_EQ(*imported, std::vector<std::string>{"mine:1"});
  EXPECT_TRUE(client->ImageRemove("busybox:1.35").ok());
  EXPECT_EQ(client->ImageRemove("nope").code(), absl::StatusCode::kNotFound);
  auto du = client->DiskUsage();
  ASSERT_TRUE(du.ok());
  ASSERT_EQ(du->size(), 2u);
  EXPECT_TRUE((*du)[1].shared);
  PruneOptions prune;
  prune.keep_storage_bytes = 123;
  prune.keep_duration = absl::Hours(2);
  auto report = client->Prune(prune);
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(report->bytes_freed, 1000);
  EXPECT_EQ(report->records_removed, 1);
  EXPECT_EQ(engine_.last_prune().keep_storage_bytes, 123);
  EXPECT_EQ(engine_.last_prune().keep_duration, absl::Hours(2));
}

TEST_F(ServerTest, SocketAndDirModes) {
  StartServer();
  struct stat st;
  ASSERT_EQ(stat(socket_.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  ASSERT_EQ(stat((dir_.path() + "/run").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0700u);
}

// A socket directly in a shared directory (sticky or world-writable, like /tmp) must leave that
// directory's mode alone: re-moding /tmp to 0700 locks every other user out of it.
TEST_F(ServerTest, SharedSocketDirKeepsItsMode) {
  const std::string shared = dir_.path() + "/shared";
  ASSERT_EQ(mkdir(shared.c_str(), 0700), 0);
  ASSERT_EQ(chmod(shared.c_str(), 01777), 0);
  ServerOptions options;
  options.socket_path = shared + "/kilnd.sock";
  auto server = DaemonServer::Start(&engine_, options);
  ASSERT_TRUE(server.ok()) << server.status();
  struct stat st;
  ASSERT_EQ(stat(shared.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 01777u);
  ASSERT_EQ(stat(options.socket_path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  (*server)->Shutdown(absl::Seconds(5));
}

TEST_F(ServerTest, StaleSocketIsReplacedLiveOneIsNot) {
  ASSERT_TRUE(base::MkdirAll(dir_.path() + "/run", 0700).ok());
  {  // a socket file whose listener is gone, as after kill -9
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strcpy(addr.sun_path, socket_.c_str());
    ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    close(fd);
  }
  StartServer();
  auto client = Connect();
  ASSERT_NE(client, nullptr);
  EXPECT_TRUE(client->Health(absl::Seconds(5)).ok());
  ServerOptions second;
  second.socket_path = socket_;
  auto other = DaemonServer::Start(&engine_, second);
  ASSERT_FALSE(other.ok());
  EXPECT_EQ(other.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_TRUE(absl::StrContains(other.status().message(), "already listening")) << other.status();
  EXPECT_TRUE(client->Health(absl::Seconds(5)).ok()) << "the live socket was disturbed";
}

TEST_F(ServerTest, StateRootLockRefusesASecondDaemon) {
  auto first = LockStateRoot(dir_.path() + "/root");
  ASSERT_TRUE(first.ok()) << first.status();
  auto second = LockStateRoot(dir_.path() + "/root");
  ASSERT_FALSE(second.ok());
  EXPECT_TRUE(absl::StrContains(second.status().message(),
                                absl::StrCat("another kilnd (pid ", getpid(), ")")))
      << second.status();
  first->reset();
  EXPECT_TRUE(LockStateRoot(dir_.path() + "/root").ok());
}

TEST_F(ServerTest, ExplicitAddressWithoutDaemonSaysHowToStartOne) {
  auto client = DaemonClient::Connect(ClientOptions{"unix://" + socket_});
  ASSERT_FALSE(client.ok());
  EXPECT_EQ(client.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(absl::StrContains(client.status().message(), "start one with: kilnd --addr unix://" +
                                                               socket_))
      << client.status();
  auto run = testing::Run({KilnctlPath(), "du", "--addr", "unix://" + socket_});
  EXPECT_NE(run.exit_code, 0);
  EXPECT_TRUE(absl::StrContains(run.err, "kilnd --addr unix://" + socket_)) << run.err;
}

// A gRPC client that is not kilnctl sends the wire's string map as it likes: every bad output
// fails the Solve with INVALID_ARGUMENT before the engine starts (it used to be found only
// after the whole build).
TEST_F(ServerTest, RawSolveWithABadOutputIsRejectedBeforeTheEngineRuns) {
  StartServer();
  auto stub = v1::Control::NewStub(
      grpc::CreateChannel("unix:" + socket_, grpc::InsecureChannelCredentials()));
  struct Bad {
    ExportSpec spec;
    const char* message;
  };
  const std::string dest = dir_.path() + "/out.tar";
  std::vector<Bad> bads = {
      {{"tarball", {{"dest", dest}}}, "--output type=tarball: unknown type"},
      {{"image", {{"name", "a:1"}, {"push", "maybe"}}}, "bad push='maybe'"},
      {{"registry", {{"name", "a:1"}, {"push", "false"}}}, "unknown key 'push' for type=registry"},
      {{"docker", {{"dest", dest}}}, "--output type=docker: missing name=REF"},
      {{"oci", {{"dest", "out.tar"}}}, "dest 'out.tar' is relative"},
      {{"oci", {{"dest", dest}, {"tar", "maybe"}}}, "bad tar='maybe'"},
      {{"docker", {{"dest", dest}, {"name", "a:1"}, {"tar", "false"}}}, "tar=false"},
      {{"image", {{"name", "a:1"}, {"compression", "lz4"}}}, "compression=lz4"},
  };
  for (const Bad& bad : bads) {
    v1::SolveRequest req;
    req.set_context_dir(context_);
    v1::Export* e = req.add_exports();
    e->set_type(bad.spec.type);
    for (const auto& [key, value] : bad.spec.attrs) (*e->mutable_attrs())[key] = value;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    auto reader = stub->Solve(&ctx, req);
    v1::SolveStatus status;
    int messages = 0;
    while (reader->Read(&status)) ++messages;
    grpc::Status st = reader->Finish();
    EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << bad.message;
    EXPECT_TRUE(absl::StrContains(st.error_message(), bad.message))
        << st.error_message() << " lacks " << bad.message;
    EXPECT_EQ(messages, 0) << bad.message;
  }
  EXPECT_EQ(engine_.builds_started(), 0);
  // The same request with a good output reaches the engine.
  v1::SolveRequest good;
  ToProto(Request(), &good);
  grpc::ClientContext ctx;
  auto reader = stub->Solve(&ctx, good);
  v1::SolveStatus status;
  while (reader->Read(&status)) {
  }
  EXPECT_TRUE(reader->Finish().ok());
  EXPECT_EQ(engine_.builds_started(), 1);
}

TEST_F(ServerTest, ContextTheCallerCannotReadIsRefused) {
  // The fake engine runs as root here; the caller (kiln-test) is allowed on the socket by
  // config but must not build from a dir only root can read.
  ASSERT_EQ(geteuid(), 0u) << "this test must run as root (it switches to kiln-test)";
  testing::TestUser user = testing::LookupUser("kiln-test");
  ASSERT_TRUE(user.found) << "user kiln-test is missing; run tools/setup-test-user.sh";
  ASSERT_EQ(chmod(dir_.path().c_str(), 0711), 0);
  ASSERT_EQ(chmod(context_.c_str(), 0700), 0);
  StartServer({user.uid});
  auto run = testing::Run(testing::AsUser(user, {}, {KilnctlPath(), "build", "--progress",
                                                     "plain", "--addr", "unix://" + socket_,
                                                     context_}));
  EXPECT_NE(run.exit_code, 0);
  EXPECT_TRUE(absl::StrContains(run.err, absl::StrCat("as uid ", user.uid))) << run.err;
  EXPECT_TRUE(absl::StrContains(run.err, "is not readable")) << run.err;
  EXPECT_EQ(engine_.builds_started(), 0);
  // A dir it can read builds fine.
  ASSERT_EQ(chmod(context_.c_str(), 0755), 0);
  run = testing::Run(testing::AsUser(user, {}, {KilnctlPath(), "build", "--progress", "plain",
                                                "--addr", "unix://" + socket_, context_}));
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(engine_.builds_started(), 1);
}

TEST_F(ServerTest, OtherUserIsRefusedWithTheOwnerNamed) {
  ASSERT_EQ(geteuid(), 0u) << "this test must run as root (it switches to kiln-test)";
  testing::TestUser user = testing::LookupUser("kiln-test");
  ASSERT_TRUE(user.found) << "user kiln-test is missing; run tools/setup-test-user.sh";
  ASSERT_EQ(chmod(dir_.path().c_str(), 0711), 0);
  StartServer();
  // 1. The kernel refuses: socket 0600 in a 0700 dir.
  auto run = testing::Run(
      testing::AsUser(user, {}, {KilnctlPath(), "du", "--addr", "unix://" + socket_}));
  EXPECT_NE(run.exit_code, 0);
  EXPECT_TRUE(absl::StrContains(run.err, "permission denied: it belongs to uid 0")) << run.err;
  // 2. The daemon refuses by SO_PEERCRED even when the modes would let the user in.
  ASSERT_EQ(chmod((dir_.path() + "/run").c_str(), 0711), 0);
  ASSERT_EQ(chmod(socket_.c_str(), 0666), 0);
  run = testing::Run(
      testing::AsUser(user, {}, {KilnctlPath(), "du", "--addr", "unix://" + socket_}));
  EXPECT_NE(run.exit_code, 0);
  EXPECT_TRUE(absl::StrContains(run.err, absl::StrCat("uid ", user.uid, " is not allowed")))
      << run.err;
  EXPECT_TRUE(absl::StrContains(run.err, "it belongs to uid 0 (root)")) << run.err;
  // Root itself is still served.
  auto client = Connect();
  ASSERT_NE(client, nullptr);
  EXPECT_TRUE(client->DiskUsage().ok());
}

TEST_F(ServerTest, TtyProgressUnderAPseudoTerminal) {
  auto steps = ThreeSteps();
  steps[1].duration = absl::Milliseconds(600);
  engine_.SetSteps(steps);
  StartServer();
  std::string command = absl::StrCat(KilnctlPath(), " build --progress auto --addr unix://",
                                     socket_, " ", context_);
  auto run = testing::Run({"script", "-q", "-e", "-c", command, "/dev/null"});
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  const std::string& screen = run.out;
  EXPECT_TRUE(absl::StrContains(screen, "#2 [builder 1/2] RUN echo hello")) << screen;
  EXPECT_TRUE(absl::StrContains(screen, "#3 [builder 2/2] RUN make")) << screen;
  EXPECT_TRUE(absl::StrContains(screen, "CACHED")) << screen;
  EXPECT_TRUE(absl::StrContains(screen, "  > hello")) << screen;
  EXPECT_TRUE(absl::StrContains(screen, "[+] Building")) << screen;
  EXPECT_TRUE(absl::StrContains(screen, "\x1b[")) << "no redraws: not a tty view";
  EXPECT_TRUE(absl::StrContains(screen, "Build finished in ")) << screen;
  EXPECT_TRUE(absl::StrContains(screen, "3 steps, 1 cached")) << screen;
}

TEST_F(ServerTest, KilnctlWritesTraceAndMetadataFiles) {
  StartServer();
  std::string trace = dir_.path() + "/trace.json";
  std::string meta = dir_.path() + "/meta.json";
  auto run = testing::Run({KilnctlPath(), "build", "--progress", "rawjson", "--addr",
                           "unix://" + socket_, "--trace", trace, "--metadata-file", meta, "-t",
                           "app:1", context_});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_TRUE(absl::StrContains(run.err, "\"kind\":\"result\"")) << run.err;
  std::string trace_text = testing::ReadFile(trace);
  EXPECT_TRUE(absl::StrContains(trace_text, "\"traceEvents\"")) << trace_text;
  EXPECT_TRUE(absl::StrContains(trace_text, "[builder 2/2] RUN make")) << trace_text;
  std::string meta_text = testing::ReadFile(meta);
  EXPECT_TRUE(absl::StrContains(meta_text, base::Digest::Of("fake manifest").str())) << meta_text;
  EXPECT_TRUE(absl::StrContains(meta_text, "\"image.name\": \"app:1\"")) << meta_text;
  BuildRequest seen = engine_.last_request();
  ASSERT_EQ(seen.exports.size(), 1u);
  EXPECT_TRUE(std::holds_alternative<ImageOutput>(seen.exports[0]));
}

// kilnctl --secret reaches the engine's BuildRequest::secrets through the Solve call; kilnd
// refuses a secret file the caller cannot read (here: one that does not exist).
TEST_F(ServerTest, KilnctlSecretsReachTheEngine) {
  StartServer();
  std::string secret = dir_.path() + "/token";
  testing::WriteFile(secret, "s3cret\n");
  auto run = testing::Run({KilnctlPath(), "build", "--progress", "quiet", "--addr",
                           "unix://" + socket_, "--secret", "id=tok,src=" + secret, context_});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  BuildRequest seen = engine_.last_request();
  EXPECT_EQ(seen.secrets, (std::map<std::string, std::string>{{"tok", secret}}));
  auto missing = testing::Run({KilnctlPath(), "build", "--progress", "quiet", "--addr",
                               "unix://" + socket_, "--secret",
                               "id=tok,src=" + dir_.path() + "/absent", context_});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_TRUE(absl::StrContains(missing.err, dir_.path() + "/absent")) << missing.err;
}

TEST_F(ServerTest, KilnctlFailingBuildPrintsLogTailAndExitsNonZero) {
  auto steps = ThreeSteps();
  steps[2].fail = true;
  steps[2].logs = {"compiling", "main.go:3: undefined: x"};
  engine_.SetSteps(steps);
  StartServer();
  auto run = testing::Run({KilnctlPath(), "build", "--progress", "plain", "--addr",
                           "unix://" + socket_, context_});
  EXPECT_EQ(run.exit_code, 1) << run.err;
  EXPECT_TRUE(absl::StrContains(run.err, " > [builder 2/2] RUN make:\n#3 compiling\n"
                                         "#3 main.go:3: undefined: x\n")) << run.err;
  EXPECT_TRUE(absl::StrContains(run.err, "ERROR: Dockerfile:4: ")) << run.err;
}

}  // namespace
}  // namespace kiln::engine::daemon
