// `kilnctl debug verify [--repair]`: checks every store of an engine against the others, in
// dependency order, each check living next to its store:
//   1. content blobs: bytes against digest and size      (cache/verify.h)
//   2. image refs: manifests, configs and layers present  (engine/image/image_store.h)
//   3. snapshots: records against directories and parents (snapshotter/snapshotter.h)
//   4. cache records: the committed snapshot they name    (cache/verify.h)
//   5. leases: no hold while no build runs                (cache/verify.h)
// With repair, each step drops what it found inconsistent before the next step looks, so a
// cache record whose snapshot a repair removed is itself dropped (a miss, rebuilt next time).
// Runs under the engine's exclusive lock (no prune, import or pull meanwhile); builds may run.
#ifndef KILN_ENGINE_DAEMON_VERIFY_H_
#define KILN_ENGINE_DAEMON_VERIFY_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "cache/verify.h"
#include "engine/core/engine.h"

namespace kiln::engine::daemon {

struct VerifyReport {
  std::vector<std::pair<std::string, int64_t>> checked;  // store -> objects checked, in order
  std::vector<cache::VerifyProblem> problems;
};

// `builds_running`: Solve calls in flight (for the lease check).
absl::StatusOr<VerifyReport> VerifyStores(const EngineStores& stores, bool repair,
                                          int builds_running);

// Startup recovery, before any build runs: drops the cache records whose snapshot is gone (what
// a prune killed between removing a snapshot and its record leaves; Lookup would treat them as
// misses anyway). Returns how many went.
absl::StatusOr<int> DropRecordsWithoutSnapshot(const EngineStores& stores);

}  // namespace kiln::engine::daemon

#endif  // KILN_ENGINE_DAEMON_VERIFY_H_
