// DaemonServer: kilnd's listener. It owns the Unix socket, accepts connections itself so it can
// read each peer's SO_PEERCRED, records the credentials, and hands the connection to a gRPC
// server (AddInsecureChannelFromFd) that runs ControlService over the given Engine.
//
// Lifecycle: Start() -> serving on its own threads -> Shutdown() (also run by the destructor):
// stop accepting, remove the socket file, cancel running builds, wait for the handlers.
// Thread safety: Shutdown() may be called from any thread, once or more.
#ifndef KILN_ENGINE_DAEMON_SERVER_H_
#define KILN_ENGINE_DAEMON_SERVER_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "base/unique_fd.h"
#include "engine/core/engine.h"
#include "engine/daemon/peer.h"
#include "engine/daemon/service.h"

namespace grpc {
class Server;
}

namespace kiln::engine::daemon {

struct ServerOptions {
  std::string socket_path;          // absolute
  std::string root;                 // for Info
  std::vector<unsigned> allow_uids; // besides our euid and 0; non-empty => socket 0666, dir 0711
  bool rootless = false;
  std::string version = "0.1.0";
};

class DaemonServer {
 public:
  // `engine` is not owned and must outlive the server. Errors from ListenUnixSocket
  // (AlreadyExists when another daemon answers on the socket) or from gRPC startup.
  static absl::StatusOr<std::unique_ptr<DaemonServer>> Start(Engine* engine,
                                                             ServerOptions options);
  ~DaemonServer();
  DaemonServer(const DaemonServer&) = delete;
  DaemonServer& operator=(const DaemonServer&) = delete;

  // Graceful stop; running builds get `grace` to return after being cancelled.
  void Shutdown(absl::Duration grace = absl::Seconds(10));

  const std::string& socket_path() const { return options_.socket_path; }
  ControlService& service() { return *service_; }

 private:
  DaemonServer(ServerOptions options, base::UniqueFd listen_fd);
  void AcceptLoop();
  bool Allowed(uid_t uid) const;

  const ServerOptions options_;
  base::UniqueFd listen_fd_;
  base::UniqueFd wake_read_;
  base::UniqueFd wake_write_;
  PeerTable peers_;
  std::unique_ptr<ControlService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::thread acceptor_;
  absl::Mutex shutdown_mu_;
  bool shut_down_ ABSL_GUARDED_BY(shutdown_mu_) = false;
};

}  // namespace kiln::engine::daemon

#endif  // KILN_ENGINE_DAEMON_SERVER_H_
