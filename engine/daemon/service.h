// ControlService: the gRPC Control service (proto/control.proto) over one Engine.
//
// Every call is authorized from the SO_PEERCRED credentials the daemon recorded for the
// connection (PeerTable, keyed by gRPC's "fd:N" peer name); a peer the uid policy refused
// gets PERMISSION_DENIED naming the socket's owner. Paths in requests are checked against the
// caller's uid/gids before the engine reads or writes them.
//
// Solve runs Engine::Build on its own thread and streams the events from the handler thread
// in batches; when the client goes away (disconnect, Ctrl-C, kill) or CancelAll() is called,
// the build's solver::Cancellation is cancelled and the handler waits for Build to return.
//
// Thread safety: all methods may be called concurrently (gRPC's sync server does). The engine
// and peer table are not owned and must outlive the service.
#ifndef KILN_ENGINE_DAEMON_SERVICE_H_
#define KILN_ENGINE_DAEMON_SERVICE_H_

#include <sys/types.h>

#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "engine/core/engine.h"
#include "engine/daemon/peer.h"
#include "engine/daemon/proto/control.grpc.pb.h"

namespace kiln::engine::solver {
class Cancellation;
}

namespace kiln::engine::daemon {

struct ServiceInfo {
  std::string version = "0.1.0";
  std::string root;         // state root, for Info
  std::string socket_path;  // for Info and for error messages
  uid_t socket_owner = 0;   // host-visible owner named in "refused" errors
  std::string socket_owner_name;
  bool rootless = false;
};

class ControlService final : public v1::Control::Service {
 public:
  ControlService(Engine* engine, const PeerTable* peers, ServiceInfo info);

  // Refuses new Solves (UNAVAILABLE) and cancels every running one. Idempotent.
  void CancelAll();
  // Number of Solve calls currently running.
  int ActiveBuilds() const;

  grpc::Status Health(grpc::ServerContext* ctx, const v1::HealthRequest* req,
                      v1::HealthResponse* resp) override;
  grpc::Status Info(grpc::ServerContext* ctx, const v1::InfoRequest* req,
                    v1::InfoResponse* resp) override;
  grpc::Status Solve(grpc::ServerContext* ctx, const v1::SolveRequest* req,
                     grpc::ServerWriter<v1::SolveStatus>* writer) override;
  grpc::Status DiskUsage(grpc::ServerContext* ctx, const v1::DiskUsageRequest* req,
                         v1::DiskUsageResponse* resp) override;
  grpc::Status Prune(grpc::ServerContext* ctx, const v1::PruneRequest* req,
                     v1::PruneResponse* resp) override;
  grpc::Status ImageList(grpc::ServerContext* ctx, const v1::ImageListRequest* req,
                         v1::ImageListResponse* resp) override;
  grpc::Status ImageImport(grpc::ServerContext* ctx, const v1::ImageImportRequest* req,
                           v1::ImageImportResponse* resp) override;
  grpc::Status ImagePull(grpc::ServerContext* ctx, const v1::ImagePullRequest* req,
                         v1::ImagePullResponse* resp) override;
  grpc::Status ImagePush(grpc::ServerContext* ctx, const v1::ImagePushRequest* req,
                         v1::ImagePushResponse* resp) override;
  grpc::Status ImageRemove(grpc::ServerContext* ctx, const v1::ImageRemoveRequest* req,
                           v1::ImageRemoveResponse* resp) override;
  grpc::Status DebugVerify(grpc::ServerContext* ctx, const v1::DebugVerifyRequest* req,
                           v1::DebugVerifyResponse* resp) override;

 private:
  // The caller's credentials if it may use the daemon; PermissionDenied otherwise.
  absl::StatusOr<PeerCredentials> Authorize(grpc::ServerContext* ctx) const;
  // Checks the request's paths against the caller's permissions.
  absl::Status CheckSolvePaths(const PeerCredentials& peer, const BuildRequest& request) const;
  // Checks that the caller may write every output's dest.
  absl::Status CheckOutputPaths(const PeerCredentials& peer, const BuildRequest& request) const;
  absl::Status Register(solver::Cancellation* cancel);
  void Unregister(solver::Cancellation* cancel);
  // Runs the build and pumps its events to `writer` until done.
  absl::StatusOr<BuildResult> RunAndStream(grpc::ServerContext* ctx, const BuildRequest& request,
                                           grpc::ServerWriter<v1::SolveStatus>* writer,
                                           solver::Cancellation* cancel);

  Engine* const engine_;
  const PeerTable* const peers_;
  const ServiceInfo info_;
  mutable absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  absl::flat_hash_set<solver::Cancellation*> active_ ABSL_GUARDED_BY(mu_);
};

}  // namespace kiln::engine::daemon

#endif  // KILN_ENGINE_DAEMON_SERVICE_H_
