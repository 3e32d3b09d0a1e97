// Consistency checks of the cache's stores, for `kilnctl debug verify [--repair]` (the daemon
// runs them in order, see engine/daemon/verify.h).
//
// Each check lists what it found wrong, one VerifyProblem per object, and with `repair` drops
// the inconsistent object so that it becomes a cache miss. Nothing consistent is ever removed,
// and nothing a running build holds (a lease) is removed: such a problem is reported with
// repaired = false.
// Thread-safe as the stores they walk; they may run while builds run.
#ifndef KILN_CACHE_VERIFY_H_
#define KILN_CACHE_VERIFY_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "cache/cache_index.h"
#include "cache/content_store.h"
#include "cache/lease.h"

namespace kiln::cache {

struct VerifyProblem {
  std::string store;    // "content", "cache", "lease", ...
  std::string object;   // the object's id: a blob digest, a cache key, a snapshot key
  std::string problem;  // what is wrong with it
  std::string affects;  // what depends on it / what the repair makes a miss
  bool repaired = false;
};

struct VerifyOutcome {
  int64_t checked = 0;  // objects looked at
  std::vector<VerifyProblem> problems;
};

// Every blob's bytes against its digest and size. With `repair`, a blob that fails is deleted
// (unless a lease holds it). `leases` may be null.
absl::StatusOr<VerifyOutcome> VerifyContentStore(ContentStore& store, LeaseManager* leases,
                                                 bool repair);

// Every cache record against the snapshot it names: `snapshot_ok` says whether a committed
// snapshot of that key exists ("" is the empty tree and always is). With `repair`, records
// that fail are deleted (unless a lease holds their snapshot).
absl::StatusOr<VerifyOutcome> VerifyCacheIndex(
    CacheIndex& index, const std::function<bool(const std::string& snapshot)>& snapshot_ok,
    LeaseManager* leases, bool repair);

// Leases against live builds: with no build running (`builds_running` 0) every hold is a leak.
// Holds are in memory only, so nothing is repaired (a restart drops them).
VerifyOutcome VerifyLeases(const LeaseManager& leases, int builds_running);

}  // namespace kiln::cache

#endif  // KILN_CACHE_VERIFY_H_
