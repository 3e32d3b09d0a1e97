// SnapshotCacheSeam: the solver's cache, over the cache index (cache key -> committed
// snapshot). A record whose snapshot vanished is a miss (the index drops it), so the step
// reruns and the record is repaired.
//
// Leases (when a LeaseManager is given): a hit is trusted only once its snapshot is held and
// still exists afterwards; a hold that races GC's removal (Aborted) or a snapshot gone after
// the hold is a miss, never an error. Save holds the new snapshot before the record is
// written, so from the moment GC can see the record it is held until the build drops the
// result; a snapshot collected before Save could hold it makes Save fail with Aborted (the
// solver reruns the step). Thread-safe.
#ifndef KILN_ENGINE_CORE_CACHE_SEAM_H_
#define KILN_ENGINE_CORE_CACHE_SEAM_H_

#include "cache/cache_index.h"
#include "cache/lease.h"
#include "engine/ops/worker.h"
#include "engine/solver/cache_seam.h"

namespace kiln::engine {

class SnapshotCacheSeam : public solver::CacheSeam {
 public:
  // `leases` may be null (nothing is held). All pointers must outlive the seam.
  SnapshotCacheSeam(const Worker* worker, cache::CacheIndex* index,
                    cache::LeaseManager* leases = nullptr)
      : worker_(worker), index_(index), leases_(leases) {}
  absl::StatusOr<solver::ResultRef> Lookup(const base::Digest& key,
                                           const solver::Vertex& vertex) override;
  absl::Status Save(const base::Digest& key, const solver::ResultRef& result,
                    const solver::Vertex& vertex) override;

 private:
  const Worker* worker_;
  cache::CacheIndex* index_;
  cache::LeaseManager* leases_;
};

}  // namespace kiln::engine

#endif  // KILN_ENGINE_CORE_CACHE_SEAM_H_
