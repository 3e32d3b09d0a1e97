// DescribeWorker: the facts of the worker that runs the builds (the daemon's, not the
// client's), for the Info RPC and `kilnctl debug workers`: the engine's own settings plus the
// sandbox probe and self-test (sandbox::ProbeWorkerFacts).
#ifndef KILN_ENGINE_CORE_WORKER_INFO_H_
#define KILN_ENGINE_CORE_WORKER_INFO_H_

#include <cstddef>
#include <string>

#include "engine/core/engine.h"

namespace kiln::sandbox {
class Sandbox;
}  // namespace kiln::sandbox

namespace kiln::engine {

// The engine's side of the facts.
struct WorkerSettings {
  std::string root;             // state dir
  std::string snapshotter;      // driver in use
  std::string snapshotter_why;  // why that driver ("" when chosen explicitly)
  size_t parallelism = 0;
  std::string default_network;  // for RUN without --network
};

// Ordered facts: root, rootless, snapshotter, parallelism, userns, uid_map, gid_map, network
// (with the default), /sys, seccomp, caps, no_new_privs, overlay, limits, kernel, self-test
// ("ok" or the error). A failed probe is reported as a self-test fact, never an error.
WorkerInfo DescribeWorker(const sandbox::Sandbox& sandbox, const WorkerSettings& settings);

}  // namespace kiln::engine

#endif  // KILN_ENGINE_CORE_WORKER_INFO_H_
