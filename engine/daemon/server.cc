#include "engine/daemon/server.h"

#include <fcntl.h>
#include <poll.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "base/status.h"
#include "engine/daemon/socket.h"
#include "engine/daemon/verify.h"
#include "grpcpp/server.h"
#include "grpcpp/server_builder.h"
#include "grpcpp/server_posix.h"

namespace kiln::engine::daemon {
namespace {

std::string UserName(uid_t uid) {
  struct passwd pw;
  struct passwd* found = nullptr;
  char buf[4096];
  if (getpwuid_r(uid, &pw, buf, sizeof(buf), &found) == 0 && found != nullptr) {
    return found->pw_name;
  }
  return "";
}

}  // namespace

DaemonServer::DaemonServer(ServerOptions options, base::UniqueFd listen_fd)
    : options_(std::move(options)), listen_fd_(std::move(listen_fd)) {}

absl::StatusOr<std::unique_ptr<DaemonServer>> DaemonServer::Start(Engine* engine,
                                                                  ServerOptions options) {
  // Best effort: a record left without its snapshot is a cache miss either way.
  (void)DropRecordsWithoutSnapshot(engine->Stores());
  ListenOptions listen;
  if (!options.allow_uids.empty()) {
    listen.socket_mode = 0666;
    listen.dir_mode = 0711;
  }
  KILN_ASSIGN_OR_RETURN(base::UniqueFd fd, ListenUnixSocket(options.socket_path, listen));
  std::unique_ptr<DaemonServer> server(new DaemonServer(std::move(options), std::move(fd)));
  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC | O_NONBLOCK) != 0) {
    unlink(server->options_.socket_path.c_str());
    return base::ErrnoError("pipe2");
  }
  server->wake_read_.reset(pipe_fds[0]);
  server->wake_write_.reset(pipe_fds[1]);

  struct stat st;
  uid_t owner = geteuid();
  if (stat(server->options_.socket_path.c_str(), &st) == 0) owner = st.st_uid;
  ServiceInfo info;
  info.version = server->options_.version;
  info.root = server->options_.root;
  info.socket_path = server->options_.socket_path;
  info.socket_owner = owner;
  info.socket_owner_name = UserName(owner);
  info.rootless = server->options_.rootless;
  server->service_ = std::make_unique<ControlService>(engine, &server->peers_, info);

  grpc::ServerBuilder builder;
  builder.RegisterService(server->service_.get());
  server->server_ = builder.BuildAndStart();
  if (server->server_ == nullptr) {
    unlink(server->options_.socket_path.c_str());
    return absl::InternalError("start gRPC server: BuildAndStart failed");
  }
  server->acceptor_ = std::thread([s = server.get()] { s->AcceptLoop(); });
  return server;
}

DaemonServer::~DaemonServer() { Shutdown(); }

bool DaemonServer::Allowed(uid_t uid) const {
  if (uid == geteuid() || uid == 0) return true;
  return std::find(options_.allow_uids.begin(), options_.allow_uids.end(), uid) !=
         options_.allow_uids.end();
}

void DaemonServer::AcceptLoop() {
  for (;;) {
    pollfd fds[2] = {{listen_fd_.get(), POLLIN, 0}, {wake_read_.get(), POLLIN, 0}};
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      std::fprintf(stderr, "kilnd: poll on the socket: %s\n", std::strerror(errno));
      return;
    }
    if (fds[1].revents != 0) return;
    if ((fds[0].revents & POLLIN) == 0) continue;
    int conn = accept4(listen_fd_.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (conn < 0) continue;  // EAGAIN, ECONNABORTED, EMFILE: keep serving
    absl::StatusOr<PeerCredentials> peer = ReadPeerCredentials(conn);
    if (!peer.ok()) {
      std::fprintf(stderr, "kilnd: %s\n", std::string(peer.status().message()).c_str());
      close(conn);
      continue;
    }
    peer->allowed = Allowed(peer->uid);
    peers_.Record(conn, *peer);
    grpc::AddInsecureChannelFromFd(server_.get(), conn);  // gRPC owns `conn` now
  }
}

void DaemonServer::Shutdown(absl::Duration grace) {
  absl::MutexLock lock(&shutdown_mu_);
  if (shut_down_) return;
  shut_down_ = true;
  char byte = 1;
  (void)!write(wake_write_.get(), &byte, 1);
  if (acceptor_.joinable()) acceptor_.join();
  listen_fd_.reset();
  unlink(options_.socket_path.c_str());
  service_->CancelAll();
  if (server_ != nullptr) {
    server_->Shutdown(std::chrono::system_clock::now() +
                      std::chrono::milliseconds(absl::ToInt64Milliseconds(grace)));
    server_->Wait();
  }
}

}  // namespace kiln::engine::daemon
