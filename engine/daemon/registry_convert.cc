#include "engine/daemon/registry_convert.h"

#include "base/status.h"

namespace kiln::engine::daemon {

void ToProto(const std::vector<RegistryCredential>& credentials, ProtoCredentials* out) {
  for (const RegistryCredential& c : credentials) {
    v1::RegistryCredential* p = out->Add();
    p->set_registry(c.registry);
    p->set_username(c.username);
    p->set_password(c.password);
    p->set_identity_token(c.identity_token);
  }
}

std::vector<RegistryCredential> FromProto(const ProtoCredentials& credentials) {
  std::vector<RegistryCredential> out;
  for (const v1::RegistryCredential& p : credentials) {
    out.push_back({p.registry(), p.username(), p.password(), p.identity_token()});
  }
  return out;
}

void ToProto(const ImagePullRequest& request, v1::ImagePullRequest* out) {
  out->set_ref(request.ref);
  out->set_platform(request.platform);
  ToProto(request.credentials, out->mutable_credentials());
}

ImagePullRequest FromProto(const v1::ImagePullRequest& request) {
  return {request.ref(), request.platform(), FromProto(request.credentials())};
}

void ToProto(const ImagePullResult& result, v1::ImagePullResponse* out) {
  out->set_ref(result.ref);
  out->set_manifest_digest(result.manifest_digest.str());
  out->set_blobs_fetched(result.blobs_fetched);
}

absl::StatusOr<ImagePullResult> FromProto(const v1::ImagePullResponse& response) {
  ImagePullResult out;
  out.ref = response.ref();
  KILN_ASSIGN_OR_RETURN(out.manifest_digest, base::Digest::Parse(response.manifest_digest()));
  out.blobs_fetched = response.blobs_fetched();
  return out;
}

void ToProto(const ImagePushRequest& request, v1::ImagePushRequest* out) {
  out->set_ref(request.ref);
  out->set_dest(request.dest);
  out->set_compression(request.compression);
  ToProto(request.credentials, out->mutable_credentials());
}

ImagePushRequest FromProto(const v1::ImagePushRequest& request) {
  return {request.ref(), request.dest(), request.compression(), FromProto(request.credentials())};
}

void ToProto(const ImagePushResult& result, v1::ImagePushResponse* out) {
  out->set_dest(result.dest);
  out->set_manifest_digest(result.manifest_digest.str());
  out->set_bytes_uploaded(result.bytes_uploaded);
  out->set_blobs_uploaded(result.blobs_uploaded);
  out->set_blobs_mounted(result.blobs_mounted);
  out->set_blobs_present(result.blobs_present);
}

absl::StatusOr<ImagePushResult> FromProto(const v1::ImagePushResponse& response) {
  ImagePushResult out;
  out.dest = response.dest();
  KILN_ASSIGN_OR_RETURN(out.manifest_digest, base::Digest::Parse(response.manifest_digest()));
  out.bytes_uploaded = response.bytes_uploaded();
  out.blobs_uploaded = response.blobs_uploaded();
  out.blobs_mounted = response.blobs_mounted();
  out.blobs_present = response.blobs_present();
  return out;
}

}  // namespace kiln::engine::daemon
