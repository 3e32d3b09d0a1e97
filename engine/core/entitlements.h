// Entitlements: what a build may ask for beyond the default sandbox, as BuildKit's. Today only
// "network.host": `RUN --network=host` and a build-wide host network (`kilnctl build
// --network=host`) need it on both sides, asked by the client (`kilnctl build --allow
// network.host`) and allowed by the daemon (`allow-insecure-entitlements = ["network.host"]`).
// Checked on the lowered graph before any step runs. Pure functions; thread-safe.
#ifndef KILN_ENGINE_CORE_ENTITLEMENTS_H_
#define KILN_ENGINE_CORE_ENTITLEMENTS_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "engine/graph/graph.h"

namespace kiln::engine {

inline constexpr char kNetworkHostEntitlement[] = "network.host";

// InvalidArgument for a build-wide `network` other than "", "default", "none" or "host", or an
// unknown entitlement in `asked`. PermissionDenied, naming the Dockerfile line and both
// switches, when a RUN would get the host network without the entitlement on both sides.
absl::Status CheckEntitlements(const graph::Graph& graph, const std::string& dockerfile_name,
                               const std::string& network, const std::vector<std::string>& asked,
                               const std::vector<std::string>& allowed);

}  // namespace kiln::engine

#endif  // KILN_ENGINE_CORE_ENTITLEMENTS_H_
