// Conversions between the engine's value types (engine/core, engine/exporters) and the
// daemon's protobuf messages (proto/control.proto). Used by the service and by kilnctl's client.
// Pure functions.
#ifndef KILN_ENGINE_DAEMON_CONVERT_H_
#define KILN_ENGINE_DAEMON_CONVERT_H_

#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engine/core/engine.h"
#include "engine/core/events.h"
#include "engine/daemon/proto/control.pb.h"
#include "grpcpp/support/status.h"

namespace kiln::engine::daemon {

void ToProto(const BuildEvent& event, v1::BuildEvent* out);
BuildEvent FromProto(const v1::BuildEvent& event);

void ToProto(const BuildRequest& request, v1::SolveRequest* out);
// Parses every output (ParseOutput): InvalidArgument for a bad one, before anything runs.
absl::StatusOr<BuildRequest> FromProto(const v1::SolveRequest& request);

void ToProto(const BuildResult& result, v1::SolveResult* out);
// InvalidArgument if a digest in the message is malformed.
absl::StatusOr<BuildResult> FromProto(const v1::SolveResult& result);

void ToProto(const UsageRecord& record, v1::UsageRecord* out);
UsageRecord FromProto(const v1::UsageRecord& record);

void ToProto(const ImageSummary& image, v1::ImageSummary* out);
absl::StatusOr<ImageSummary> FromProto(const v1::ImageSummary& image);

void ToProto(const PruneOptions& options, v1::PruneRequest* out);
PruneOptions FromProto(const v1::PruneRequest& request);

// absl::Status <-> grpc::Status, keeping the code and message.
grpc::Status ToGrpc(const absl::Status& status);
absl::Status FromGrpc(const grpc::Status& status);

}  // namespace kiln::engine::daemon

#endif  // KILN_ENGINE_DAEMON_CONVERT_H_
