// SnapshotCacheSeam: the solver's cache, over the cache index (cache key -> committed
// snapshot). A record whose snapshot vanished is a miss (the index drops it), so the step
// reruns and the record is repaired.
#ifndef KILN_ENGINE_BUILD_CACHE_SEAM_H_
#define KILN_ENGINE_BUILD_CACHE_SEAM_H_

#include "cache/cache_index.h"
#include "engine/build/worker.h"
#include "engine/solver/cache_seam.h"

namespace kiln::engine {

class SnapshotCacheSeam : public solver::CacheSeam {
 public:
  SnapshotCacheSeam(const Worker* worker, cache::CacheIndex* index)
      : worker_(worker), index_(index) {}
  absl::StatusOr<solver::ResultRef> Lookup(const base::Digest& key,
                                           const solver::Vertex& vertex) override;
  absl::Status Save(const base::Digest& key, const solver::ResultRef& result,
                    const solver::Vertex& vertex) override;

 private:
  const Worker* worker_;
  cache::CacheIndex* index_;
};

}  // namespace kiln::engine

#endif  // KILN_ENGINE_BUILD_CACHE_SEAM_H_
