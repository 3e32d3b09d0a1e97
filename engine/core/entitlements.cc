#include "engine/core/entitlements.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace kiln::engine {
namespace {

bool Has(const std::vector<std::string>& list, const std::string& item) {
  return std::find(list.begin(), list.end(), item) != list.end();
}

}  // namespace

absl::Status CheckEntitlements(const graph::Graph& graph, const std::string& dockerfile_name,
                               const std::string& network, const std::vector<std::string>& asked,
                               const std::vector<std::string>& allowed) {
  if (!network.empty() && network != "default" && network != "none" && network != "host") {
    return absl::InvalidArgumentError(
        absl::StrCat("build: --network=", network, ": expected default, none or host"));
  }
  for (const std::string& e : asked) {
    if (e != kNetworkHostEntitlement) {
      return absl::InvalidArgumentError(
          absl::StrCat("build: --allow ", e, ": unknown entitlement, expected network.host"));
    }
  }
  std::string where;
  if (network == "host") where = "--network=host";
  for (const graph::Vertex& v : graph.vertices()) {
    if (!where.empty()) break;
    const auto* e = std::get_if<graph::ExecOp>(&v.op);
    if (e == nullptr) continue;
    bool host = e->network == "host" ||
                ((e->network == "sandbox" || e->network.empty()) && network == "host");
    if (host) where = absl::StrCat(dockerfile_name, ":", v.meta.line, ": RUN --network=host");
  }
  if (where.empty()) return absl::OkStatus();
  if (!Has(asked, kNetworkHostEntitlement)) {
    return absl::PermissionDeniedError(absl::StrCat(
        where,
        " needs the network.host entitlement: pass --allow network.host to kilnctl build "
        "(kilnd must also allow it: allow-insecure-entitlements = [\"network.host\"])"));
  }
  if (!Has(allowed, kNetworkHostEntitlement)) {
    return absl::PermissionDeniedError(
        absl::StrCat(where,
                     ": kilnd does not grant the network.host entitlement; add "
                     "allow-insecure-entitlements = [\"network.host\"] to kilnd's config"));
  }
  return absl::OkStatus();
}

}  // namespace kiln::engine
