// Conversions for the registry calls (ImagePull, ImagePush, and the FROM pull fields of
// SolveRequest) between the engine's types and the protobuf messages. Pure functions.
#ifndef KILN_ENGINE_DAEMON_REGISTRY_CONVERT_H_
#define KILN_ENGINE_DAEMON_REGISTRY_CONVERT_H_

#include <vector>

#include "absl/status/statusor.h"
#include "engine/core/engine.h"
#include "engine/daemon/proto/control.pb.h"
#include "google/protobuf/repeated_field.h"

namespace kiln::engine::daemon {

using ProtoCredentials = google::protobuf::RepeatedPtrField<v1::RegistryCredential>;

void ToProto(const std::vector<RegistryCredential>& credentials, ProtoCredentials* out);
std::vector<RegistryCredential> FromProto(const ProtoCredentials& credentials);

void ToProto(const ImagePullRequest& request, v1::ImagePullRequest* out);
ImagePullRequest FromProto(const v1::ImagePullRequest& request);
void ToProto(const ImagePullResult& result, v1::ImagePullResponse* out);
absl::StatusOr<ImagePullResult> FromProto(const v1::ImagePullResponse& response);

void ToProto(const ImagePushRequest& request, v1::ImagePushRequest* out);
ImagePushRequest FromProto(const v1::ImagePushRequest& request);
void ToProto(const ImagePushResult& result, v1::ImagePushResponse* out);
absl::StatusOr<ImagePushResult> FromProto(const v1::ImagePushResponse& response);

}  // namespace kiln::engine::daemon

#endif  // KILN_ENGINE_DAEMON_REGISTRY_CONVERT_H_
