// WorkerFacts: what a worker's sandbox can do on this machine, for `kilnctl debug workers`
// (and later the daemon's ListWorkers RPC). A plain value.
#ifndef KILN_SANDBOX_WORKER_FACTS_H_
#define KILN_SANDBOX_WORKER_FACTS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "sandbox/sandbox.h"

namespace kiln::sandbox {

struct WorkerFacts {
  bool rootless = true;  // false only for real root in the initial user namespace
  uid_t euid = 0;
  IdMappingMode id_mapping = IdMappingMode::kSingleId;
  bool full_mapping = false;  // >= 65536 ids mapped (USER nobody etc. work)
  uint64_t mapped_uids = 0;
  uint64_t mapped_gids = 0;
  std::string uid_map;  // as written for each run ("0 1000 1\n1 100000 65535\n")
  std::string gid_map;
  std::string mapping_note;                // why the mapping is single, when it is
  std::vector<std::string> network_modes;  // "default" (own netns + helper), "none", "host"
  std::string network_helper;              // "slirp4netns 1.2.0 (/usr/bin/slirp4netns, ...)"
  std::string network_helper_check;        // "ok" or why kDefault cannot run
  // "ok" or the error of starting the helper on a fresh user + network namespace (run here; for
  // pasta, the probe's own self-test); "not run" when no helper binary was found.
  std::string network_helper_self_test;
  std::vector<std::string> capabilities;  // kept capabilities (NET_RAW only with host net)
  std::string seccomp;  // "docker-default, N BPF instructions, default ERRNO(EPERM)"
  bool no_new_privs = true;
  LimitLayer limit_layer = LimitLayer::kRlimit;
  std::string limit_note;    // why this layer
  std::string sys_mount;     // how /sys appears for each network mode
  bool overlay = false;      // an overlay rootfs (userxattr) mounts inside a run
  std::string overlay_note;  // the error when it does not
  std::string self_test;     // "ok" or the error of a full run over an overlay rootfs
  std::string kernel;        // uname -r
};

// Probes `sandbox`'s machine facts and runs a self-test: a full run (network none) on an
// overlay rootfs over empty temporary directories, which must get as far as exec. Takes
// ~10-50 ms. Errors only for failures outside the probe (temp dirs).
absl::StatusOr<WorkerFacts> ProbeWorkerFacts(const Sandbox& sandbox);

}  // namespace kiln::sandbox

#endif  // KILN_SANDBOX_WORKER_FACTS_H_
