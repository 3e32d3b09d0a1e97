// RegistryScan: the ImageResolver of a build's registries-only pass (BuildRequest::
// registries_only). The real frontend lowers the Dockerfile with it (ARGs expanded, named
// stages, --target pruning, COPY --from=image and RUN --mount=from=image all as in the build),
// and it records the repository ("domain/path") of every image the build would pull or revalidate
// under `policy`: with kMissing only images absent from the local store, with kAlways every image
// named by a tag or absent, with kNever none. It never contacts a registry: an image that is
// not in the store resolves to a placeholder (empty config) so that lowering goes on; the graph
// of that pass is never solved. kilnctl then sends only those registries' credentials.
// Not thread-safe (one lowering); `inner` must outlive it.
#ifndef KILN_ENGINE_REGISTRY_REGISTRY_SCAN_H_
#define KILN_ENGINE_REGISTRY_REGISTRY_SCAN_H_

#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "engine/frontend/image_resolver.h"
#include "engine/registry/transfer.h"

namespace kiln::engine::registry {

class RegistryScan : public ImageResolver {
 public:
  RegistryScan(ImageResolver* inner, PullPolicy policy) : inner_(inner), policy_(policy) {}

  // InvalidArgument for a malformed ref or platform; otherwise OK.
  absl::StatusOr<ResolvedImage> Resolve(std::string_view ref, std::string_view platform) override;

  // The repositories recorded so far, sorted, each once: "docker.io/library/busybox",
  // "127.0.0.1:5000/lib/app" (the domain is what the registry's credentials are keyed by, the
  // path serves namespace keys in credential files).
  std::vector<std::string> repositories() const { return {repos_.begin(), repos_.end()}; }

 private:
  ImageResolver* const inner_;
  const PullPolicy policy_;
  std::set<std::string> repos_;
};

}  // namespace kiln::engine::registry

#endif  // KILN_ENGINE_REGISTRY_REGISTRY_SCAN_H_
