// ImageTransfer: the engine's entry to registries. It owns the per-registry options (kilnd's
// [registry."host"] tables: mirrors, http, insecure, ca, keypair), makes one RegistryClient per
// request with the credentials the CLIENT sent for that request (they live only as long as
// the request and are never stored, logged or put into a cache key), and runs pulls, pushes
// and the FROM resolution policy.
//
// Mirrors (pulls only): tried in order, then the registry itself; a mirror that fails (any
// error) falls back to the next. A mirror may carry a path prefix ("host/prefix").
// Thread-safe. `store`, `store_mu` (held while a pull writes blobs and stores the ref, so a
// GC mark never runs in between) and `leases` (a push holds what it sends) are not owned.
#ifndef KILN_ENGINE_REGISTRY_TRANSFER_H_
#define KILN_ENGINE_REGISTRY_TRANSFER_H_

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "cache/lease.h"
#include "engine/frontend/image_resolver.h"
#include "engine/image/image_store.h"
#include "engine/registry/client.h"
#include "engine/registry/pull.h"
#include "engine/registry/push.h"

namespace kiln::engine::registry {

// Credentials by registry domain ("docker.io", "127.0.0.1:5000").
using CredentialMap = std::map<std::string, AuthConfig>;

enum class PullPolicy { kMissing, kAlways, kNever };

// "missing" (or empty), "always", "never". InvalidArgument naming the accepted values.
absl::StatusOr<PullPolicy> ParsePullPolicy(std::string_view text);

class ImageTransfer {
 public:
  ImageTransfer(image::ImageStore* store, absl::Mutex* store_mu, cache::LeaseManager* leases,
                std::map<std::string, HostOptions> hosts);

  // `ref` as the user wrote it ("busybox", "127.0.0.1:5000/a/b:1", "x@sha256:..").
  // `resolved`: what Resolve just answered for the tag (PullOptions::resolved).
  absl::StatusOr<PullResult> Pull(std::string_view ref, const oci::Platform& platform,
                                  const CredentialMap& credentials,
                                  const std::optional<oci::Descriptor>& resolved = std::nullopt);
  absl::StatusOr<PushResult> Push(std::string_view ref, std::string_view dest,
                                  const PushOptions& options, const CredentialMap& credentials);

  // A resolver for one build: the local store first; with kMissing a missing image is pulled,
  // with kAlways a tag is revalidated (one manifest HEAD) and what is missing fetched, with
  // kNever the store alone answers. `inner` (the store resolver) must outlive the result.
  std::unique_ptr<ImageResolver> ResolverFor(ImageResolver* inner, PullPolicy policy,
                                             CredentialMap credentials);

  // A client for `domain` with kilnd's options for it and `credentials` (remote cache stores).
  std::unique_ptr<RegistryClient> Client(const std::string& domain,
                                         const CredentialMap& credentials) const {
    return ClientFor(domain, OptionsFor(domain), credentials);
  }

  // The remote descriptor of `ref` (HEAD), trying mirrors like Pull.
  absl::StatusOr<oci::Descriptor> Resolve(const oci::Reference& ref,
                                          const CredentialMap& credentials);

 private:
  HostOptions OptionsFor(const std::string& domain) const;
  std::unique_ptr<RegistryClient> ClientFor(const std::string& domain, const HostOptions& options,
                                            const CredentialMap& credentials) const;

  image::ImageStore* const store_;
  absl::Mutex* const store_mu_;
  cache::LeaseManager* const leases_;
  const std::map<std::string, HostOptions> hosts_;
};

}  // namespace kiln::engine::registry

#endif  // KILN_ENGINE_REGISTRY_TRANSFER_H_
