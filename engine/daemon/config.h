// kilnd's config file: a tiny TOML subset, one `key = value` per line.
//
//   # comments and blank lines are ignored; a trailing "# ..." after a value too
//   max-parallelism = 4          # integer >= 0 (0 = one per CPU)
//   default-network = "default"  # "default" (own netns + slirp4netns), "none" or "host"
//   slirp4netns = "/usr/bin/slirp4netns"  # the network helper (default: found in PATH)
//   dns-servers = ["192.0.2.53"] # upstream resolvers for "default" RUNs (default: the host's
//                                # non-loopback nameservers)
//   allow-insecure-entitlements = ["network.host"]  # what clients may ask for with --allow
//   gc-keep-storage = "10GB"     # size: bytes or with B/KB/MB/GB/TB (1000s) or KiB/MiB/GiB/TiB
//   gc-keep-duration = "48h"     # duration: s/m/h/d units, combinable ("1d12h"); 0 = forever
//   gc-interval = "1h"           # how often kilnd applies the GC policy; 0 = never
//   allow-uids = [1000, 1001]    # extra uids allowed on the socket (it becomes 0666 in 0711)
//   [registry."docker.io"]       # registry tables: see registry_config.h (must come last)
//   mirrors = ["mirror.example:5000"]
//
// Strings may be quoted with "..." or bare. Unknown keys and bad values are errors with
// "file:line: what was wrong, what was expected". Thread-compatible value types.
#ifndef KILN_ENGINE_DAEMON_CONFIG_H_
#define KILN_ENGINE_DAEMON_CONFIG_H_

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "engine/core/engine.h"

namespace kiln::engine::daemon {

struct DaemonConfig {
  size_t max_parallelism = 0;
  std::string default_network = "default";
  std::string slirp4netns;
  std::vector<std::string> dns_servers;
  std::vector<std::string> insecure_entitlements;  // "network.host"
  int64_t gc_keep_storage_bytes = 0;                       // 0 = unlimited
  absl::Duration gc_keep_duration = absl::ZeroDuration();  // 0 = forever
  absl::Duration gc_interval = absl::ZeroDuration();       // 0 = no periodic GC
  std::vector<unsigned> allow_uids;
  std::map<std::string, RegistryHostConfig> registries;  // [registry."host"] tables
};

// Parses config text; `filename` is only used in error messages. InvalidArgument on errors.
absl::StatusOr<DaemonConfig> ParseDaemonConfig(std::string_view text, std::string_view filename);

// Reads and parses `path`. A missing file gives the defaults; other read errors fail.
absl::StatusOr<DaemonConfig> LoadDaemonConfig(const std::string& path);

// "10GB", "512MiB", "1024", "1.5GB". InvalidArgument otherwise.
absl::StatusOr<int64_t> ParseSize(std::string_view text);

// "48h", "30m", "1d12h", "90s", "0". InvalidArgument otherwise.
absl::StatusOr<absl::Duration> ParseDurationText(std::string_view text);

}  // namespace kiln::engine::daemon

#endif  // KILN_ENGINE_DAEMON_CONFIG_H_
