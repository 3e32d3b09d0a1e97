// DaemonClient: kilnctl's connection to kilnd over its Unix socket (engine/daemon's Control
// API), including the embedded default: with no --addr, if nobody answers at this user's
// default socket, it starts kilnd in the background and waits for it to answer Health.
//
// Thread safety: Cancel() may be called from any thread while Solve runs, and
// CancelFromSignalHandler() from a signal handler too; the other methods are meant for one
// thread at a time.
#ifndef KILN_TOOLS_KILNCTL_CLIENT_H_
#define KILN_TOOLS_KILNCTL_CLIENT_H_

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "base/unique_fd.h"
#include "engine/core/engine.h"
#include "engine/core/events.h"
#include "engine/daemon/proto/control.grpc.pb.h"

namespace grpc {
class ClientContext;
}

namespace kiln::tools {

struct ClientOptions {
  std::string addr;        // "unix:///path" or a path; empty = this user's default socket
  bool auto_start = true;  // start kilnd when addr is empty and nobody answers
  absl::Duration start_timeout = absl::Seconds(30);
};

class DaemonClient {
 public:
  // Errors: Unavailable "no kilnd answers at 'unix://P' ...; start one with: kilnd --addr
  // unix://P" for an explicit addr; PermissionDenied naming the socket's owner; errors from
  // starting kilnd (with the tail of its log).
  static absl::StatusOr<std::unique_ptr<DaemonClient>> Connect(const ClientOptions& options);

  const std::string& socket_path() const { return socket_path_; }
  // True if Connect started the daemon.
  bool started_daemon() const { return started_daemon_; }

  absl::Status Health(absl::Duration timeout);
  absl::StatusOr<engine::daemon::v1::InfoResponse> Info();
  absl::StatusOr<engine::daemon::v1::DebugVerifyResponse> DebugVerify(bool repair);
  // Runs a build; calls `sink` on this thread for every event, in order. Cancelled if
  // Cancel() was called. Otherwise the daemon's error (code and message kept).
  absl::StatusOr<engine::BuildResult> Solve(const engine::BuildRequest& request,
                                            const engine::BuildEventSink& sink);
  // Cancels a running Solve (and any later one). Thread-safe.
  void Cancel();
  // The same, for a SIGINT/SIGTERM handler: async-signal-safe (it takes no lock and does not
  // allocate). It shuts the connection down (shutdown(2), the fd stays open), so the running
  // Solve ends and kilnd sees its client go away and cancels the build; the client is
  // unusable afterwards, which is fine for a process about to exit.
  void CancelFromSignalHandler();

  absl::StatusOr<std::vector<engine::UsageRecord>> DiskUsage();
  absl::StatusOr<engine::PruneReport> Prune(const engine::PruneOptions& options);
  absl::StatusOr<std::vector<engine::ImageSummary>> ImageList();
  absl::StatusOr<std::vector<std::string>> ImageImport(const std::string& path,
                                                       const std::string& name);
  absl::Status ImageRemove(const std::string& ref);
  absl::StatusOr<engine::ImagePullResult> ImagePull(const engine::ImagePullRequest& request);
  absl::StatusOr<engine::ImagePushResult> ImagePush(const engine::ImagePushRequest& request);

 private:
  DaemonClient(std::string socket_path, bool started, base::UniqueFd conn);

  bool cancelled();

  std::string socket_path_;
  bool started_daemon_ = false;
  std::unique_ptr<engine::daemon::v1::Control::Stub> control_;
  absl::Mutex mu_;
  grpc::ClientContext* solve_ctx_ ABSL_GUARDED_BY(mu_) = nullptr;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  // The connection's fd (owned by gRPC's channel, which closes it only when destroyed) and the
  // signal handler's flag; lock-free, so CancelFromSignalHandler can use them.
  int conn_fd_ = -1;
  std::atomic<bool> signal_cancelled_{false};
  static_assert(std::atomic<bool>::is_always_lock_free);
};

// Where kilnctl looks for kilnd: $KILN_KILND, next to /proc/self/exe, ../kilnd/kilnd relative
// to it (the build tree), then $PATH. NotFound listing the places tried.
absl::StatusOr<std::string> FindKilnd();

}  // namespace kiln::tools

#endif  // KILN_TOOLS_KILNCTL_CLIENT_H_
