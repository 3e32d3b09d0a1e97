// The /etc/resolv.conf of a RUN in its own network namespace (NetworkMode::kDefault).
//
// The network helper is started with --disable-dns, so the RUN asks the real upstream resolvers
// directly and the helper's DNS address never forwards to the host. Nameservers on loopback
// (127.0.0.0/8, ::1, 0.0.0.0, ::) and link-local ones are never copied: from the RUN's network
// namespace they are its own loopback, or host loopback exposure. A host that only has a
// loopback resolver (systemd-resolved's 127.0.0.53, dnsmasq) gets the resolver's upstream list
// (/run/systemd/resolve/resolv.conf) or the configured `dns-servers`; with neither, an error
// says so instead of exposing the host's loopback. Pure functions plus one loader; thread-safe.
#ifndef KILN_SANDBOX_RESOLV_CONF_H_
#define KILN_SANDBOX_RESOLV_CONF_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace kiln::sandbox {

// Whether `address` (a nameserver value) is loopback, unspecified or link-local.
bool IsLocalNameserver(std::string_view address);

// Builds the RUN's resolv.conf from the host's `host_text` (read from `source`, for messages):
// keeps search/domain/options lines, drops local nameservers; `upstream`, when not empty,
// replaces every nameserver. FailedPrecondition when no nameserver is left.
absl::StatusOr<std::string> RunResolvConf(std::string_view host_text, std::string_view source,
                                          const std::vector<std::string>& upstream);

// Reads `etc_resolv` (normally /etc/resolv.conf), falling back to `resolved_upstream`
// (/run/systemd/resolve/resolv.conf) when the first lists only local nameservers.
absl::StatusOr<std::string> LoadRunResolvConf(const std::string& etc_resolv,
                                              const std::string& resolved_upstream,
                                              const std::vector<std::string>& upstream);

}  // namespace kiln::sandbox

#endif  // KILN_SANDBOX_RESOLV_CONF_H_
