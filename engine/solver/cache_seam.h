// CacheSeam: the solver's door to the build cache (cache key -> result).
//
// The cache module implements it over its LMDB index and snapshotter; tests use an in-memory
// fake. A record whose backing data vanished is the seam's business: Lookup reports a miss
// (and may repair the record), never an error.
//
// Thread safety: called concurrently from solver workers; implementations must be
// thread-safe. The solver never calls Lookup or Save twice at once for the same key and
// no_cache setting (keys are single-flighted).
#ifndef KILN_ENGINE_SOLVER_CACHE_SEAM_H_
#define KILN_ENGINE_SOLVER_CACHE_SEAM_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "base/digest.h"
#include "engine/solver/result.h"

namespace kiln::engine::solver {

class Vertex;

class CacheSeam {
 public:
  virtual ~CacheSeam() = default;
  // The cached result for `key`, or nullptr on a miss. Errors (I/O, corrupt index) fail the
  // step.
  virtual absl::StatusOr<ResultRef> Lookup(const base::Digest& key, const Vertex& vertex) = 0;
  // Records `result` (non-null) under `key`. Errors fail the step, except Aborted: the
  // result's data was garbage-collected before it could be held (an op reused existing data
  // that GC was removing), and the solver runs the step again.
  virtual absl::Status Save(const base::Digest& key, const ResultRef& result,
                            const Vertex& vertex) = 0;
};

}  // namespace kiln::engine::solver

#endif  // KILN_ENGINE_SOLVER_CACHE_SEAM_H_
