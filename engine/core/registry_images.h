// The Engine's registry entry points (pull, push, FROM pull policy, pushed build outputs) over
// registry::ImageTransfer: conversions between the Engine's request types and the registry
// library's, kept out of local_engine.cc.
#ifndef KILN_ENGINE_CORE_REGISTRY_IMAGES_H_
#define KILN_ENGINE_CORE_REGISTRY_IMAGES_H_

#include <functional>
#include <map>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "engine/core/engine.h"
#include "engine/frontend/image_resolver.h"
#include "engine/registry/transfer.h"

namespace kiln::engine {

// The registry library's host options from the engine's config.
std::map<std::string, registry::HostOptions> RegistryHosts(const EngineOptions& options);

absl::StatusOr<ImagePullResult> PullWith(registry::ImageTransfer& transfer,
                                         const ImagePullRequest& request);
absl::StatusOr<ImagePushResult> PushWith(registry::ImageTransfer& transfer,
                                         const ImagePushRequest& request);
// The FROM resolver for one build: `request.pull` policy over `inner` (the store resolver).
absl::StatusOr<std::unique_ptr<ImageResolver>> BuildResolver(registry::ImageTransfer& transfer,
                                                             ImageResolver* inner,
                                                             const BuildRequest& request);

// Pushes every name of a stored image output (push=true or type=registry) with `request`'s
// credentials; the output's compression= (zstd) applies to layers stored uncompressed.
// Registry clients for a build's remote cache stores, with the request's credentials.
std::function<std::unique_ptr<registry::RegistryClient>(const std::string& domain)>
RegistryClientsFor(registry::ImageTransfer& transfer, const BuildRequest& request);

absl::Status PushExport(registry::ImageTransfer& transfer, const ImageOutput& output,
                        const BuildRequest& request);

}  // namespace kiln::engine

#endif  // KILN_ENGINE_CORE_REGISTRY_IMAGES_H_
