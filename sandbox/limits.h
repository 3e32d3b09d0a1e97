// Limit layers: how a run's pids/memory limits are enforced on this machine, probed once.
//
//  - kCgroupV2: a delegated cgroup2 subtree we can write (memory and pids controllers enabled
//    for children of our own cgroup): a child cgroup per run with memory.max / pids.max.
//  - kCgroupV1: real root with the v1 pids and memory hierarchies mounted: a child cgroup per
//    run in each (pids.max, memory.limit_in_bytes).
//  - kRlimit: neither: RLIMIT_NPROC (counted per user namespace, so it bounds the run) and
//    RLIMIT_AS are set in the run's process.
#ifndef KILN_SANDBOX_LIMITS_H_
#define KILN_SANDBOX_LIMITS_H_

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace kiln::sandbox {

enum class LimitLayer { kCgroupV2, kCgroupV1, kRlimit };

const char* LimitLayerName(LimitLayer layer);

struct LimitProbe {
  LimitLayer layer = LimitLayer::kRlimit;
  std::string v2_parent;  // kCgroupV2: the directory run cgroups are created in
  std::string v1_pids;    // kCgroupV1: pids hierarchy directory for run cgroups
  std::string v1_memory;  // kCgroupV1: memory hierarchy directory
  std::string why;        // one line: why this layer (e.g. "cgroup2 has no pids controller")
};

// Probes /proc/self/cgroup and /proc/self/mountinfo. `try_create` also checks that a child
// cgroup can be created (and removes it). Never fails: the fallback is kRlimit.
LimitProbe ProbeLimitLayer(bool try_create = true);

// A per-run cgroup (v1 or v2) that is removed on destruction (after its processes are gone;
// removal retries briefly while the kernel tears the namespace down). Move-only.
class RunCgroup {
 public:
  // Creates the cgroup(s) for the limits that are set (0 = unlimited: no cgroup for that
  // controller) and writes them. Errors name the file.
  static absl::StatusOr<std::unique_ptr<RunCgroup>> Create(const LimitProbe& probe,
                                                           int64_t pids_max,
                                                           int64_t memory_max_bytes);
  ~RunCgroup();
  RunCgroup(const RunCgroup&) = delete;
  RunCgroup& operator=(const RunCgroup&) = delete;

  // Moves `pid` (the run's init, before it starts the worker) into the cgroup(s).
  absl::Status Attach(pid_t pid);

 private:
  RunCgroup() = default;
  std::string dirs_[2];
};

}  // namespace kiln::sandbox

#endif  // KILN_SANDBOX_LIMITS_H_
