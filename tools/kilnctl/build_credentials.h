// The registry credentials a build may need, read on the client side: the registries named by
// the Dockerfile's FROM lines (stage names and refs with unexpanded ARGs are skipped) and by
// pushed outputs (type=registry, push=true, --push), each looked up in the user's
// Docker/Podman credential files. Only those registries' credentials are sent to kilnd, with
// that one build.
#ifndef KILN_TOOLS_KILNCTL_BUILD_CREDENTIALS_H_
#define KILN_TOOLS_KILNCTL_BUILD_CREDENTIALS_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/core/engine.h"

namespace kiln::tools {

// The image references of `dockerfile`'s FROM lines that are not earlier stage names.
std::vector<std::string> FromReferences(std::string_view dockerfile);

// Credentials for the registries of `request`'s Dockerfile (read from its dockerfile_dir /
// dockerfile_name) and pushed outputs. A Dockerfile that cannot be read gives none (the build
// reports it).
absl::StatusOr<std::vector<engine::RegistryCredential>> BuildCredentials(
    const engine::BuildRequest& request);

}  // namespace kiln::tools

#endif  // KILN_TOOLS_KILNCTL_BUILD_CREDENTIALS_H_
