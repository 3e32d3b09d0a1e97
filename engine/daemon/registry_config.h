// The registry tables of kilnd's config file (BuildKit's buildkitd.toml shape):
//
//   [registry."docker.io"]
//   mirrors = ["mirror.example:5000", "harbor.example/proxy.docker.io"]
//   [registry."127.0.0.1:5000"]
//   http = true                      # plain HTTP
//   [registry."reg.example"]
//   insecure = true                  # HTTPS without verification (not with http)
//   ca = ["/etc/kiln/reg-ca.pem"]
//   [[registry."reg.example".keypair]]
//   key = "/etc/kiln/client-key.pem"
//   cert = "/etc/kiln/client-cert.pem"
//
// Unknown keys and bad values are errors that name them (the caller adds file:line).
#ifndef KILN_ENGINE_DAEMON_REGISTRY_CONFIG_H_
#define KILN_ENGINE_DAEMON_REGISTRY_CONFIG_H_

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "engine/core/engine.h"

namespace kiln::engine::daemon {

struct RegistrySection {
  std::string host;
  bool keypair = false;  // [[registry."host".keypair]]
};

// Parses a table header line ("[registry.\"host\"]" or "[[registry.\"host\".keypair]]").
// InvalidArgument naming the accepted forms otherwise.
absl::StatusOr<RegistrySection> ParseRegistrySection(std::string_view header);

// Applies `key = raw` inside `section` to `config`.
absl::Status ApplyRegistryKey(const RegistrySection& section, std::string_view key,
                              std::string_view raw, RegistryHostConfig& config);

// Checks a finished table (http and insecure together, a keypair without both files).
absl::Status CheckRegistryConfig(const std::string& host, const RegistryHostConfig& config);

}  // namespace kiln::engine::daemon

#endif  // KILN_ENGINE_DAEMON_REGISTRY_CONFIG_H_
