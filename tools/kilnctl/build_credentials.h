// The registry credentials one build needs, read on the client side and scoped to that build
// (as buildctl's session does): kilnd's registries-only pass (BuildRequest::registries_only:
// the real frontend with ARGs expanded, named stages, --target, COPY --from=image and RUN
// --mount=from=image; engine/registry/registry_scan.h) names the registries the build's images
// would come from under its pull policy, and pushed outputs (type=registry, push=true, --push)
// add theirs. Each is looked up in the user's Docker/Podman credential files; only those
// registries' credentials go to kilnd, with that one build. Without any credential file there
// is nothing to send and no extra request is made.
#ifndef KILN_TOOLS_KILNCTL_BUILD_CREDENTIALS_H_
#define KILN_TOOLS_KILNCTL_BUILD_CREDENTIALS_H_

#include <vector>

#include "absl/status/statusor.h"
#include "engine/core/engine.h"
#include "tools/kilnctl/client.h"

namespace kiln::tools {

// Errors: the registries-only pass's (a Dockerfile error shows here, as the build would
// report it); a malformed credential file or a failing helper.
absl::StatusOr<std::vector<engine::RegistryCredential>> BuildCredentials(
    const engine::BuildRequest& request, DaemonClient& client);

}  // namespace kiln::tools

#endif  // KILN_TOOLS_KILNCTL_BUILD_CREDENTIALS_H_
