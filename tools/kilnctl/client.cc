#include "tools/kilnctl/client.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <sstream>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "base/fs.h"
#include "base/status.h"
#include "engine/daemon/convert.h"
#include "engine/daemon/paths.h"
#include "engine/daemon/registry_convert.h"
#include "engine/daemon/socket.h"
#include "grpcpp/client_context.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/create_channel_posix.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"

extern char** environ;

namespace kiln::tools {
namespace {

namespace d = ::kiln::engine::daemon;
namespace v1 = ::kiln::engine::daemon::v1;

std::string OwnerText(const std::string& socket_path) {
  struct stat st;
  std::string probe = socket_path;
  while (stat(probe.c_str(), &st) != 0 && probe.size() > 1) {
    size_t slash = probe.find_last_of('/');
    probe = slash == 0 ? "/" : probe.substr(0, slash);
  }
  return absl::StrCat("uid ", st.st_uid);
}

std::string Tail(const std::string& path, int lines) {
  std::ifstream in(path);
  std::vector<std::string> all;
  for (std::string line; std::getline(in, line);) all.push_back(line);
  std::string out;
  for (size_t i = all.size() > static_cast<size_t>(lines) ? all.size() - lines : 0; i < all.size();
       ++i) {
    absl::StrAppend(&out, "  ", all[i], "\n");
  }
  return out;
}

void SetDeadline(grpc::ClientContext& ctx, absl::Duration timeout) {
  ctx.set_deadline(std::chrono::system_clock::now() +
                   std::chrono::milliseconds(absl::ToInt64Milliseconds(timeout)));
}

// Starts kilnd detached (own session, stdio to `log`). Returns its pid.
absl::StatusOr<pid_t> SpawnKilnd(const std::string& kilnd, const std::string& log) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK);
  char* argv[] = {const_cast<char*>(kilnd.c_str()), nullptr};
  pid_t pid = 0;
  int err = posix_spawn(&pid, kilnd.c_str(), &actions, &attr, argv, environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (err != 0) return base::ErrnoError(err, absl::StrCat("start '", kilnd, "'"));
  return pid;
}

// Waits until the socket answers Health, the daemon dies with an error, or the timeout.
absl::Status WaitForDaemon(const std::string& socket_path, pid_t pid, const std::string& log,
                           absl::Duration timeout) {
  absl::Time deadline = absl::Now() + timeout;
  bool exited = false;
  while (absl::Now() < deadline) {
    if (d::ConnectUnixSocket(socket_path).ok()) {
      auto channel =
          grpc::CreateChannel(d::GrpcTarget(socket_path), grpc::InsecureChannelCredentials());
      auto control = v1::Control::NewStub(channel);
      grpc::ClientContext ctx;
      SetDeadline(ctx, absl::Seconds(5));
      v1::HealthResponse resp;
      if (control->Health(&ctx, v1::HealthRequest(), &resp).ok()) return absl::OkStatus();
    }
    int status = 0;
    if (!exited && waitpid(pid, &status, WNOHANG) == pid) {
      exited = true;
      std::string tail = Tail(log, 5);
      // Another kilnd won the race to start: keep waiting for it.
      if (tail.find("another kilnd") == std::string::npos &&
          tail.find("already listening") == std::string::npos) {
        return absl::UnavailableError(absl::StrCat("start kilnd: it exited (status ", status,
                                                   ") before answering; its log '", log,
                                                   "' ends with:\n", tail));
      }
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
  return absl::DeadlineExceededError(absl::StrCat(
      "start kilnd: no answer on '", socket_path, "' after ", absl::FormatDuration(timeout),
      "; its log '", log, "' ends with:\n", Tail(log, 5)));
}

absl::Status AutoStart(const std::string& socket_path, const ClientOptions& options) {
  KILN_ASSIGN_OR_RETURN(std::string kilnd, FindKilnd());
  d::DefaultPaths defaults = d::DefaultPathsFor(getuid());
  KILN_RETURN_IF_ERROR(base::MkdirAll(defaults.root, 0700));
  std::string log = defaults.root + "/kilnd.log";
  KILN_ASSIGN_OR_RETURN(pid_t pid, SpawnKilnd(kilnd, log));
  return WaitForDaemon(socket_path, pid, log, options.start_timeout);
}

}  // namespace

absl::StatusOr<std::string> FindKilnd() {
  const char* env = std::getenv("KILN_KILND");
  if (env != nullptr && *env != '\0') return std::string(env);
  std::vector<std::string> tried;
  char self[4096];
  ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
  if (n > 0) {
    std::string dir(self, static_cast<size_t>(n));
    dir = dir.substr(0, dir.find_last_of('/'));
    tried.push_back(dir + "/kilnd");
    tried.push_back(dir + "/../kilnd/kilnd");
  }
  const char* path = std::getenv("PATH");
  for (absl::string_view entry : absl::StrSplit(path != nullptr ? path : "", ':')) {
    if (!entry.empty()) tried.push_back(absl::StrCat(entry, "/kilnd"));
  }
  for (const std::string& candidate : tried) {
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return absl::NotFoundError(absl::StrCat("find kilnd: not next to kilnctl nor in $PATH (tried ",
                                          absl::StrJoin(tried, ", "),
                                          "); set $KILN_KILND or start it yourself"));
}

DaemonClient::DaemonClient(std::string socket_path, bool started, base::UniqueFd conn)
    : socket_path_(std::move(socket_path)), started_daemon_(started) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(64 << 20);
  // The channel runs on the connection we already made (one connect, no name resolution);
  // gRPC owns the fd from here on. A CLI process makes its calls and exits, so it needs no
  // reconnects.
  conn_fd_ = conn.release();
  control_ = v1::Control::NewStub(
      grpc::CreateCustomInsecureChannelFromFd(d::GrpcTarget(socket_path_), conn_fd_, args));
}

absl::StatusOr<std::unique_ptr<DaemonClient>> DaemonClient::Connect(const ClientOptions& options) {
  bool explicit_addr = !options.addr.empty();
  std::string socket_path = d::DefaultPathsFor(getuid()).socket;
  if (explicit_addr) {
    KILN_ASSIGN_OR_RETURN(socket_path, d::SocketPathFromAddress(options.addr));
  }
  absl::StatusOr<base::UniqueFd> probe = d::ConnectUnixSocket(socket_path);
  bool started = false;
  if (!probe.ok()) {
    if (absl::IsPermissionDenied(probe.status())) {
      return absl::PermissionDeniedError(absl::StrCat(
          "connect to kilnd at 'unix://", socket_path, "': permission denied: it belongs to ",
          OwnerText(socket_path), "; use your own daemon (run `kilnd`, or omit --addr)"));
    }
    if (explicit_addr || !options.auto_start) {
      return absl::UnavailableError(
          absl::StrCat("no kilnd answers at 'unix://", socket_path, "' (", probe.status().message(),
                       "); start one with: kilnd --addr unix://", socket_path));
    }
    KILN_RETURN_IF_ERROR(AutoStart(socket_path, options));
    started = true;
    probe = d::ConnectUnixSocket(socket_path);
    if (!probe.ok()) {
      return absl::UnavailableError(absl::StrCat("connect to the kilnd just started at 'unix://",
                                                 socket_path, "': ", probe.status().message()));
    }
  }
  return std::unique_ptr<DaemonClient>(new DaemonClient(socket_path, started, *std::move(probe)));
}

absl::Status DaemonClient::Health(absl::Duration timeout) {
  grpc::ClientContext ctx;
  SetDeadline(ctx, timeout);
  v1::HealthResponse resp;
  return d::FromGrpc(control_->Health(&ctx, v1::HealthRequest(), &resp));
}

absl::StatusOr<v1::InfoResponse> DaemonClient::Info() {
  grpc::ClientContext ctx;
  v1::InfoResponse resp;
  KILN_RETURN_IF_ERROR(d::FromGrpc(control_->Info(&ctx, v1::InfoRequest(), &resp)));
  return resp;
}

absl::StatusOr<v1::DebugVerifyResponse> DaemonClient::DebugVerify(bool repair) {
  grpc::ClientContext ctx;
  v1::DebugVerifyRequest req;
  req.set_repair(repair);
  v1::DebugVerifyResponse resp;
  KILN_RETURN_IF_ERROR(d::FromGrpc(control_->DebugVerify(&ctx, req, &resp)));
  return resp;
}

void DaemonClient::Cancel() {
  absl::MutexLock lock(&mu_);
  cancelled_ = true;
  if (solve_ctx_ != nullptr) solve_ctx_->TryCancel();
}

void DaemonClient::CancelFromSignalHandler() {
  signal_cancelled_.store(true);
  int saved_errno = errno;
  shutdown(conn_fd_, SHUT_RDWR);
  errno = saved_errno;
}

bool DaemonClient::cancelled() {
  absl::MutexLock lock(&mu_);
  return cancelled_ || signal_cancelled_.load();
}

absl::StatusOr<engine::BuildResult> DaemonClient::Solve(const engine::BuildRequest& request,
                                                        const engine::BuildEventSink& sink) {
  v1::SolveRequest req;
  d::ToProto(request, &req);
  grpc::ClientContext ctx;
  {
    absl::MutexLock lock(&mu_);
    if (cancelled_ || signal_cancelled_.load()) return absl::CancelledError("build cancelled");
    solve_ctx_ = &ctx;
  }
  std::unique_ptr<grpc::ClientReader<v1::SolveStatus>> reader = control_->Solve(&ctx, req);
  v1::SolveStatus msg;
  std::optional<absl::StatusOr<engine::BuildResult>> result;
  while (reader->Read(&msg)) {
    if (sink) {
      for (const v1::BuildEvent& event : msg.events()) sink(d::FromProto(event));
    }
    if (msg.done()) result = d::FromProto(msg.result());
  }
  grpc::Status status = reader->Finish();
  {
    absl::MutexLock lock(&mu_);
    solve_ctx_ = nullptr;
  }
  if (cancelled()) return absl::CancelledError("build cancelled");
  if (!status.ok()) {
    if (status.error_code() == grpc::StatusCode::UNAVAILABLE) {
      return absl::UnavailableError(
          absl::StrCat("kilnd at 'unix://", socket_path_, "' went away: ", status.error_message()));
    }
    return d::FromGrpc(status);
  }
  if (!result.has_value()) {
    return absl::InternalError("solve: kilnd ended the stream without a result");
  }
  return *std::move(result);
}

absl::StatusOr<std::vector<engine::UsageRecord>> DaemonClient::DiskUsage() {
  grpc::ClientContext ctx;
  v1::DiskUsageResponse resp;
  KILN_RETURN_IF_ERROR(d::FromGrpc(control_->DiskUsage(&ctx, v1::DiskUsageRequest(), &resp)));
  std::vector<engine::UsageRecord> records;
  for (const v1::UsageRecord& record : resp.records()) records.push_back(d::FromProto(record));
  return records;
}

absl::StatusOr<engine::PruneReport> DaemonClient::Prune(const engine::PruneOptions& options) {
  grpc::ClientContext ctx;
  v1::PruneRequest req;
  d::ToProto(options, &req);
  v1::PruneResponse resp;
  KILN_RETURN_IF_ERROR(d::FromGrpc(control_->Prune(&ctx, req, &resp)));
  return engine::PruneReport{resp.bytes_freed(), resp.records_removed()};
}

absl::StatusOr<std::vector<engine::ImageSummary>> DaemonClient::ImageList() {
  grpc::ClientContext ctx;
  v1::ImageListResponse resp;
  KILN_RETURN_IF_ERROR(d::FromGrpc(control_->ImageList(&ctx, v1::ImageListRequest(), &resp)));
  std::vector<engine::ImageSummary> images;
  for (const v1::ImageSummary& image : resp.images()) {
    KILN_ASSIGN_OR_RETURN(engine::ImageSummary summary, d::FromProto(image));
    images.push_back(std::move(summary));
  }
  return images;
}

absl::StatusOr<std::vector<std::string>> DaemonClient::ImageImport(const std::string& path,
                                                                   const std::string& name) {
  grpc::ClientContext ctx;
  v1::ImageImportRequest req;
  req.set_path(path);
  req.set_name(name);
  v1::ImageImportResponse resp;
  KILN_RETURN_IF_ERROR(d::FromGrpc(control_->ImageImport(&ctx, req, &resp)));
  return std::vector<std::string>(resp.refs().begin(), resp.refs().end());
}

absl::Status DaemonClient::ImageRemove(const std::string& ref) {
  grpc::ClientContext ctx;
  v1::ImageRemoveRequest req;
  req.set_ref(ref);
  v1::ImageRemoveResponse resp;
  return d::FromGrpc(control_->ImageRemove(&ctx, req, &resp));
}

absl::StatusOr<engine::ImagePullResult> DaemonClient::ImagePull(
    const engine::ImagePullRequest& request) {
  grpc::ClientContext ctx;
  v1::ImagePullRequest req;
  d::ToProto(request, &req);
  v1::ImagePullResponse resp;
  KILN_RETURN_IF_ERROR(d::FromGrpc(control_->ImagePull(&ctx, req, &resp)));
  return d::FromProto(resp);
}

absl::StatusOr<engine::ImagePushResult> DaemonClient::ImagePush(
    const engine::ImagePushRequest& request) {
  grpc::ClientContext ctx;
  v1::ImagePushRequest req;
  d::ToProto(request, &req);
  v1::ImagePushResponse resp;
  KILN_RETURN_IF_ERROR(d::FromGrpc(control_->ImagePush(&ctx, req, &resp)));
  return d::FromProto(resp);
}

}  // namespace kiln::tools
