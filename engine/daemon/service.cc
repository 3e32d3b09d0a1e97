#include "engine/daemon/service.h"

#include <sys/stat.h>
#include <unistd.h>

#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "base/status.h"
#include "engine/daemon/build_file_check.h"
#include "engine/daemon/convert.h"
#include "engine/daemon/registry_convert.h"
#include "engine/daemon/verify.h"
#include "engine/solver/cancellation.h"

namespace kiln::engine::daemon {
namespace {

// State shared between the build thread (producer) and the handler thread (consumer).
struct SolveChannel {
  absl::Mutex mu;
  std::vector<BuildEvent> pending ABSL_GUARDED_BY(mu);
  bool done ABSL_GUARDED_BY(mu) = false;
  absl::StatusOr<BuildResult> result ABSL_GUARDED_BY(mu) = absl::UnknownError("not run");
};

constexpr absl::Duration kCancelPoll = absl::Milliseconds(50);
constexpr size_t kMaxMessageBytes = 1 << 20;  // well under gRPC's 4 MiB default limit

// Sends `batch` in messages of about kMaxMessageBytes. False if the client is gone.
bool WriteBatch(const std::vector<BuildEvent>& batch, grpc::ServerWriter<v1::SolveStatus>* writer) {
  v1::SolveStatus status;
  size_t bytes = 0;
  for (const BuildEvent& event : batch) {
    ToProto(event, status.add_events());
    bytes += event.data.size() + event.name.size() + event.error.size() + 128;
    if (bytes >= kMaxMessageBytes) {
      if (!writer->Write(status)) return false;
      status.Clear();
      bytes = 0;
    }
  }
  return status.events_size() == 0 || writer->Write(status);
}

}  // namespace

ControlService::ControlService(Engine* engine, const PeerTable* peers, ServiceInfo info)
    : engine_(engine), peers_(peers), info_(std::move(info)) {}

void ControlService::CancelAll() {
  absl::MutexLock lock(&mu_);
  stopping_ = true;
  for (solver::Cancellation* cancel : active_) cancel->Cancel();
}

int ControlService::ActiveBuilds() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int>(active_.size());
}

absl::StatusOr<PeerCredentials> ControlService::Authorize(grpc::ServerContext* ctx) const {
  std::optional<PeerCredentials> peer = peers_->Lookup(ctx->peer());
  if (!peer.has_value()) {
    return absl::PermissionDeniedError(absl::StrCat("kilnd: connection '", ctx->peer(),
                                                    "' has no verified peer credentials; refused"));
  }
  if (!peer->allowed) {
    return absl::PermissionDeniedError(absl::StrCat(
        "kilnd: uid ", peer->uid, " is not allowed to use the daemon at '", info_.socket_path,
        "' (it belongs to uid ", info_.socket_owner,
        info_.socket_owner_name.empty() ? "" : absl::StrCat(" (", info_.socket_owner_name, ")"),
        "); start your own daemon with `kilnd` or let kilnctl start one for you"));
  }
  return *peer;
}

absl::Status ControlService::CheckSolvePaths(const PeerCredentials& peer,
                                             const BuildRequest& request) const {
  if (request.context_dir.empty()) {
    return absl::InvalidArgumentError("solve: no build context (--local context=DIR)");
  }
  KILN_RETURN_IF_ERROR(CheckPeerCanRead(peer, request.context_dir));
  if (!request.dockerfile_dir.empty()) {
    KILN_RETURN_IF_ERROR(CheckPeerCanRead(peer, request.dockerfile_dir));
  }
  KILN_RETURN_IF_ERROR(CheckBuildFiles(peer, request));
  for (const auto& [id, path] : request.secrets) {
    if (path.empty() || path[0] != '/') {
      return absl::InvalidArgumentError(
          absl::StrCat("solve: secret '", id, "': the path '", path, "' must be absolute"));
    }
    KILN_RETURN_IF_ERROR(CheckPeerCanRead(peer, path));
    struct stat st;
    if (stat(path.c_str(), &st) != 0) {
      return base::ErrnoError(absl::StrCat("solve: secret '", id, "': stat '", path, "'"));
    }
    if (!S_ISREG(st.st_mode)) {
      return absl::InvalidArgumentError(
          absl::StrCat("solve: secret '", id, "': '", path, "' is not a regular file"));
    }
  }
  return absl::OkStatus();
}

absl::Status ControlService::CheckOutputPaths(const PeerCredentials& peer,
                                              const BuildRequest& request) const {
  for (const Output& output : request.exports) {
    std::string dest = DestOf(output);
    if (!dest.empty()) KILN_RETURN_IF_ERROR(CheckPeerCanWrite(peer, dest));
  }
  return absl::OkStatus();
}

absl::Status ControlService::Register(solver::Cancellation* cancel) {
  absl::MutexLock lock(&mu_);
  if (stopping_) return absl::UnavailableError("kilnd: the daemon is shutting down");
  active_.insert(cancel);
  return absl::OkStatus();
}

void ControlService::Unregister(solver::Cancellation* cancel) {
  absl::MutexLock lock(&mu_);
  active_.erase(cancel);
}

grpc::Status ControlService::Health(grpc::ServerContext* ctx, const v1::HealthRequest*,
                                    v1::HealthResponse* resp) {
  auto peer = Authorize(ctx);
  if (!peer.ok()) return ToGrpc(peer.status());
  resp->set_status("SERVING");
  resp->set_pid(getpid());
  return grpc::Status::OK;
}

grpc::Status ControlService::Info(grpc::ServerContext* ctx, const v1::InfoRequest*,
                                  v1::InfoResponse* resp) {
  auto peer = Authorize(ctx);
  if (!peer.ok()) return ToGrpc(peer.status());
  resp->set_version(info_.version);
  resp->set_root(info_.root);
  resp->set_address("unix://" + info_.socket_path);
  resp->set_pid(getpid());
  resp->set_rootless(info_.rootless);
  for (const auto& [key, value] : engine_->Workers().facts) {
    v1::KeyValue* kv = resp->add_worker();
    kv->set_key(key);
    kv->set_value(value);
  }
  return grpc::Status::OK;
}

absl::StatusOr<BuildResult> ControlService::RunAndStream(
    grpc::ServerContext* ctx, const BuildRequest& request,
    grpc::ServerWriter<v1::SolveStatus>* writer, solver::Cancellation* cancel) {
  SolveChannel channel;
  BuildEventSink sink = [&channel](const BuildEvent& event) {
    absl::MutexLock lock(&channel.mu);
    channel.pending.push_back(event);
  };
  std::thread builder([&] {
    absl::StatusOr<BuildResult> result = engine_->Build(request, sink, cancel);
    absl::MutexLock lock(&channel.mu);
    channel.result = std::move(result);
    channel.done = true;
  });
  bool client_gone = false;
  for (bool done = false; !done;) {
    std::vector<BuildEvent> batch;
    {
      absl::MutexLock lock(&channel.mu);
      auto ready = [&channel]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(channel.mu) {
        return channel.done || !channel.pending.empty();
      };
      channel.mu.AwaitWithTimeout(absl::Condition(&ready), kCancelPoll);
      batch.swap(channel.pending);
      done = channel.done;
    }
    if (!client_gone && ctx->IsCancelled()) client_gone = true;
    if (!client_gone && !batch.empty() && !WriteBatch(batch, writer)) client_gone = true;
    if (client_gone) cancel->Cancel();
  }
  builder.join();
  absl::MutexLock lock(&channel.mu);
  if (client_gone && channel.result.ok()) {
    return absl::CancelledError("solve: the client went away");
  }
  return std::move(channel.result);
}

grpc::Status ControlService::Solve(grpc::ServerContext* ctx, const v1::SolveRequest* req,
                                   grpc::ServerWriter<v1::SolveStatus>* writer) {
  auto peer = Authorize(ctx);
  if (!peer.ok()) return ToGrpc(peer.status());
  if (!req->frontend().empty() && req->frontend() != "dockerfile.v0") {
    return ToGrpc(absl::InvalidArgumentError(
        absl::StrCat("solve: unknown frontend '", req->frontend(), "', expected dockerfile.v0")));
  }
  absl::StatusOr<BuildRequest> parsed = FromProto(*req);
  if (!parsed.ok()) return ToGrpc(parsed.status());
  const BuildRequest& request = *parsed;
  absl::Status paths = CheckSolvePaths(*peer, request);
  if (!paths.ok()) return ToGrpc(paths);
  paths = CheckOutputPaths(*peer, request);
  if (!paths.ok()) return ToGrpc(paths);
  solver::Cancellation cancel;
  absl::Status registered = Register(&cancel);
  if (!registered.ok()) return ToGrpc(registered);
  absl::StatusOr<BuildResult> result = RunAndStream(ctx, request, writer, &cancel);
  Unregister(&cancel);
  if (!result.ok()) return ToGrpc(result.status());
  v1::SolveStatus last;
  ToProto(*result, last.mutable_result());
  last.set_done(true);
  writer->Write(last);
  return grpc::Status::OK;
}

grpc::Status ControlService::DiskUsage(grpc::ServerContext* ctx, const v1::DiskUsageRequest*,
                                       v1::DiskUsageResponse* resp) {
  auto peer = Authorize(ctx);
  if (!peer.ok()) return ToGrpc(peer.status());
  absl::StatusOr<std::vector<UsageRecord>> records = engine_->DiskUsage();
  if (!records.ok()) return ToGrpc(records.status());
  for (const UsageRecord& record : *records) ToProto(record, resp->add_records());
  return grpc::Status::OK;
}

grpc::Status ControlService::Prune(grpc::ServerContext* ctx, const v1::PruneRequest* req,
                                   v1::PruneResponse* resp) {
  auto peer = Authorize(ctx);
  if (!peer.ok()) return ToGrpc(peer.status());
  absl::StatusOr<PruneReport> report = engine_->Prune(FromProto(*req));
  if (!report.ok()) return ToGrpc(report.status());
  resp->set_bytes_freed(report->bytes_freed);
  resp->set_records_removed(report->records_removed);
  return grpc::Status::OK;
}

grpc::Status ControlService::ImageList(grpc::ServerContext* ctx, const v1::ImageListRequest*,
                                       v1::ImageListResponse* resp) {
  auto peer = Authorize(ctx);
  if (!peer.ok()) return ToGrpc(peer.status());
  absl::StatusOr<std::vector<ImageSummary>> images = engine_->ListImages();
  if (!images.ok()) return ToGrpc(images.status());
  for (const ImageSummary& image : *images) ToProto(image, resp->add_images());
  return grpc::Status::OK;
}

grpc::Status ControlService::ImageImport(grpc::ServerContext* ctx,
                                         const v1::ImageImportRequest* req,
                                         v1::ImageImportResponse* resp) {
  auto peer = Authorize(ctx);
  if (!peer.ok()) return ToGrpc(peer.status());
  if (req->path().empty() || req->path()[0] != '/') {
    return ToGrpc(absl::InvalidArgumentError(absl::StrCat(
        "import image '", req->path(), "': the path must be absolute (kilnd reads it itself)")));
  }
  absl::Status readable = CheckPeerCanRead(*peer, req->path());
  if (!readable.ok()) return ToGrpc(readable);
  absl::StatusOr<std::vector<std::string>> refs = engine_->ImportImage(req->path(), req->name());
  if (!refs.ok()) return ToGrpc(refs.status());
  for (const std::string& ref : *refs) resp->add_refs(ref);
  return grpc::Status::OK;
}

grpc::Status ControlService::ImageRemove(grpc::ServerContext* ctx,
                                         const v1::ImageRemoveRequest* req,
                                         v1::ImageRemoveResponse*) {
  auto peer = Authorize(ctx);
  if (!peer.ok()) return ToGrpc(peer.status());
  return ToGrpc(engine_->RemoveImage(req->ref()));
}

// Pull and push carry the caller's registry credentials for this one call; nothing of them
// is kept or logged (errors come from the registry and never echo them).
grpc::Status ControlService::ImagePull(grpc::ServerContext* ctx, const v1::ImagePullRequest* req,
                                       v1::ImagePullResponse* resp) {
  auto peer = Authorize(ctx);
  if (!peer.ok()) return ToGrpc(peer.status());
  absl::StatusOr<ImagePullResult> result = engine_->PullImage(FromProto(*req));
  if (!result.ok()) return ToGrpc(result.status());
  ToProto(*result, resp);
  return grpc::Status::OK;
}

grpc::Status ControlService::ImagePush(grpc::ServerContext* ctx, const v1::ImagePushRequest* req,
                                       v1::ImagePushResponse* resp) {
  auto peer = Authorize(ctx);
  if (!peer.ok()) return ToGrpc(peer.status());
  absl::StatusOr<ImagePushResult> result = engine_->PushImage(FromProto(*req));
  if (!result.ok()) return ToGrpc(result.status());
  ToProto(*result, resp);
  return grpc::Status::OK;
}

grpc::Status ControlService::DebugVerify(grpc::ServerContext* ctx,
                                         const v1::DebugVerifyRequest* req,
                                         v1::DebugVerifyResponse* resp) {
  auto peer = Authorize(ctx);
  if (!peer.ok()) return ToGrpc(peer.status());
  absl::StatusOr<VerifyReport> report =
      VerifyStores(engine_->Stores(), req->repair(), ActiveBuilds());
  if (!report.ok()) return ToGrpc(report.status());
  for (const auto& [store, checked] : report->checked) {
    v1::VerifyCount* c = resp->add_checked();
    c->set_store(store);
    c->set_checked(checked);
  }
  for (const cache::VerifyProblem& p : report->problems) {
    v1::VerifyProblem* out = resp->add_problems();
    out->set_store(p.store);
    out->set_object(p.object);
    out->set_problem(p.problem);
    out->set_affects(p.affects);
    out->set_repaired(p.repaired);
  }
  return grpc::Status::OK;
}

}  // namespace kiln::engine::daemon
