#include "engine/core/registry_images.h"

#include "absl/strings/str_cat.h"
#include "base/status.h"
#include "engine/oci/descriptor.h"
#include "engine/oci/reference.h"

namespace kiln::engine {
namespace {

registry::CredentialMap CredentialsOf(const std::vector<RegistryCredential>& credentials) {
  registry::CredentialMap out;
  for (const RegistryCredential& c : credentials) {
    out[c.registry] = registry::AuthConfig{c.username, c.password, c.identity_token};
  }
  return out;
}

}  // namespace

std::map<std::string, registry::HostOptions> RegistryHosts(const EngineOptions& options) {
  std::map<std::string, registry::HostOptions> out;
  for (const auto& [host, config] : options.registries) {
    registry::HostOptions& h = out[host];
    h.mirrors = config.mirrors;
    h.plain_http = config.http;
    h.tls.insecure = config.insecure;
    h.tls.ca_files = config.ca;
    h.tls.client_cert = config.cert;
    h.tls.client_key = config.key;
  }
  return out;
}

absl::StatusOr<ImagePullResult> PullWith(registry::ImageTransfer& transfer,
                                         const ImagePullRequest& request) {
  oci::Platform platform = oci::Platform::Default();
  if (!request.platform.empty()) {
    KILN_ASSIGN_OR_RETURN(platform, oci::Platform::Parse(request.platform));
  }
  KILN_ASSIGN_OR_RETURN(registry::PullResult pulled,
                        transfer.Pull(request.ref, platform, CredentialsOf(request.credentials)));
  ImagePullResult out;
  out.ref = pulled.ref;
  out.manifest_digest = pulled.manifest_digest;
  out.blobs_fetched = pulled.blobs_fetched;
  return out;
}

absl::StatusOr<ImagePushResult> PushWith(registry::ImageTransfer& transfer,
                                         const ImagePushRequest& request) {
  registry::PushOptions options;
  if (!request.compression.empty()) options.compression = request.compression;
  KILN_ASSIGN_OR_RETURN(
      registry::PushResult pushed,
      transfer.Push(request.ref, request.dest, options, CredentialsOf(request.credentials)));
  KILN_ASSIGN_OR_RETURN(oci::Reference dest,
                        oci::NormalizeReference(request.dest.empty() ? request.ref : request.dest));
  ImagePushResult out;
  out.dest = dest.String();
  out.manifest_digest = pushed.manifest_digest;
  out.bytes_uploaded = pushed.bytes_uploaded;
  out.blobs_uploaded = pushed.blobs_uploaded;
  out.blobs_mounted = pushed.blobs_mounted;
  out.blobs_present = pushed.blobs_present;
  return out;
}

absl::StatusOr<std::unique_ptr<ImageResolver>> BuildResolver(registry::ImageTransfer& transfer,
                                                             ImageResolver* inner,
                                                             const BuildRequest& request) {
  absl::StatusOr<registry::PullPolicy> policy = registry::ParsePullPolicy(request.pull);
  if (!policy.ok()) return base::Annotate(policy.status(), "build: --pull");
  return transfer.ResolverFor(inner, *policy, CredentialsOf(request.credentials));
}

std::function<std::unique_ptr<registry::RegistryClient>(const std::string& domain)>
RegistryClientsFor(registry::ImageTransfer& transfer, const BuildRequest& request) {
  return [&transfer, creds = CredentialsOf(request.credentials)](const std::string& domain) {
    return transfer.Client(domain, creds);
  };
}

absl::Status PushExport(registry::ImageTransfer& transfer, const ImageOutput& output,
                        const BuildRequest& request) {
  for (const std::string& ref : output.names) {
    ImagePushRequest push;
    push.ref = ref;
    push.credentials = request.credentials;
    if (output.compression == OutputCompression::kZstd) push.compression = "zstd";
    absl::StatusOr<ImagePushResult> pushed = PushWith(transfer, push);
    if (!pushed.ok()) return base::Annotate(pushed.status(), "build: --output push");
  }
  return absl::OkStatus();
}

}  // namespace kiln::engine
