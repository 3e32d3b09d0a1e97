#include "engine/registry/transfer.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "base/status.h"
#include "engine/oci/reference.h"

namespace kiln::engine::registry {
namespace {

using base::AsAbsl;

// Where to pull from: mirrors first, then the registry itself.
struct Endpoint {
  std::string domain;
  std::string repository;
};

std::vector<Endpoint> PullEndpoints(const oci::Reference& ref, const HostOptions& options) {
  std::vector<Endpoint> out;
  for (const std::string& mirror : options.mirrors) {
    size_t slash = mirror.find('/');
    std::string host = mirror.substr(0, slash);
    std::string prefix = slash == std::string::npos ? "" : mirror.substr(slash + 1);
    while (prefix.ends_with("/")) prefix.pop_back();
    out.push_back({host, prefix.empty() ? ref.path : prefix + "/" + ref.path});
  }
  out.push_back({ref.domain, ref.path});
  return out;
}

}  // namespace

absl::StatusOr<PullPolicy> ParsePullPolicy(std::string_view text) {
  if (text.empty() || text == "missing") return PullPolicy::kMissing;
  if (text == "always") return PullPolicy::kAlways;
  if (text == "never") return PullPolicy::kNever;
  return absl::InvalidArgumentError(
      absl::StrCat("pull policy '", AsAbsl(text), "': expected missing, always or never"));
}

ImageTransfer::ImageTransfer(image::ImageStore* store, absl::Mutex* store_mu,
                             cache::LeaseManager* leases, std::map<std::string, HostOptions> hosts)
    : store_(store), store_mu_(store_mu), leases_(leases), hosts_(std::move(hosts)) {}

HostOptions ImageTransfer::OptionsFor(const std::string& domain) const {
  auto it = hosts_.find(domain);
  return it == hosts_.end() ? HostOptions{} : it->second;
}

std::unique_ptr<RegistryClient> ImageTransfer::ClientFor(const std::string& domain,
                                                         const HostOptions& options,
                                                         const CredentialMap& credentials) const {
  auto it = credentials.find(domain);
  return std::make_unique<RegistryClient>(domain, options,
                                          it == credentials.end() ? AuthConfig{} : it->second);
}

absl::StatusOr<PullResult> ImageTransfer::Pull(std::string_view text, const oci::Platform& platform,
                                               const CredentialMap& credentials,
                                               const std::optional<oci::Descriptor>& resolved) {
  KILN_ASSIGN_OR_RETURN(oci::Reference ref, oci::NormalizeReference(text));
  std::vector<Endpoint> endpoints = PullEndpoints(ref, OptionsFor(ref.domain));
  absl::Status last;
  std::string failures;
  for (const Endpoint& ep : endpoints) {
    std::unique_ptr<RegistryClient> client =
        ClientFor(ep.domain, OptionsFor(ep.domain), credentials);
    PullOptions options;
    options.platform = platform;
    options.repository = ep.repository;
    options.resolved = resolved;
    absl::StatusOr<PullResult> result;
    {
      absl::MutexLock lock(store_mu_);
      result = PullImage(*client, ref, *store_, options);
    }
    if (result.ok()) return result;
    last = result.status();
    if (ep.domain != ref.domain) {
      absl::StrAppend(&failures, "mirror '", ep.domain, "' failed: ", last.message(), "; ");
    }
  }
  return failures.empty() ? last : base::Annotate(last, failures);
}

absl::StatusOr<oci::Descriptor> ImageTransfer::Resolve(const oci::Reference& ref,
                                                       const CredentialMap& credentials) {
  absl::Status last;
  for (const Endpoint& ep : PullEndpoints(ref, OptionsFor(ref.domain))) {
    std::unique_ptr<RegistryClient> client =
        ClientFor(ep.domain, OptionsFor(ep.domain), credentials);
    absl::StatusOr<oci::Descriptor> d = ResolveRemote(*client, ref, ep.repository);
    if (d.ok()) return d;
    last = d.status();
  }
  return last;
}

absl::StatusOr<PushResult> ImageTransfer::Push(std::string_view ref, std::string_view dest,
                                               const PushOptions& options,
                                               const CredentialMap& credentials) {
  KILN_ASSIGN_OR_RETURN(oci::Reference local, oci::NormalizeReference(ref));
  KILN_ASSIGN_OR_RETURN(oci::Reference target, oci::NormalizeReference(dest.empty() ? ref : dest));
  std::unique_ptr<RegistryClient> client =
      ClientFor(target.domain, OptionsFor(target.domain), credentials);
  cache::Lease lease = leases_->NewLease();
  return PushImage(*client, *store_, local.String(), target, lease, options);
}

}  // namespace kiln::engine::registry
