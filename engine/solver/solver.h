// Solver: runs build graphs of vertices on a thread pool, with caching and single-flight.
//
//   Solver solver({.max_parallelism = 0, .cache = &cache});
//   auto result = solver.Solve({.outputs = {final_vertex}, .progress = sink});
//
// Scheduling: only vertices reachable from the requested outputs are evaluated, and each runs
// as soon as its inputs are ready, so independent branches run concurrently (up to
// SolverOptions::max_parallelism, further limited per build by BuildOptions::max_parallelism).
// Per vertex: Op::CacheKey -> CacheSeam::Lookup (unless no_cache) -> on a miss Op::Exec and
// CacheSeam::Save.
//
// Single-flight: a vertex (by digest and no_cache) that is pending or running in this or any
// other concurrent build of this Solver is shared, never run twice; likewise two vertices whose
// cache keys turn out equal. A shared vertex runs as long as at least one build needs it and
// is cancelled when none does.
//
// Failure: the first failed step cancels the rest of its build; Solve returns that step's
// error (see step_error.h: names the vertex, carries exit code and the output tail).
// Cancellation: BuildRequest::cancel may fire from any thread; Solve then returns Cancelled
// promptly, after the steps only it needed have stopped.
//
// Resources: when Solve returns, every result of the build is released except the returned
// outputs (and those still shared with other running builds).
//
// Thread safety: Solve may be called concurrently from many threads, but never from inside a
// progress sink, an op, or a cache seam call (that would deadlock the pool). The Solver must
// outlive every Solve call.
#ifndef KILN_ENGINE_SOLVER_SOLVER_H_
#define KILN_ENGINE_SOLVER_SOLVER_H_

#include <cstddef>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/solver/cache_seam.h"
#include "engine/solver/cancellation.h"
#include "engine/solver/clock.h"
#include "engine/solver/op.h"
#include "engine/solver/progress.h"
#include "engine/solver/result.h"
#include "engine/solver/vertex.h"

namespace kiln::engine::solver {

struct SolverOptions {
  // Worker threads, i.e. the most steps running at once across all builds. 0 = one per CPU.
  size_t max_parallelism = 0;
  // Not owned; must outlive the Solver. Null = no cache (every step runs).
  CacheSeam* cache = nullptr;
  // Not owned; must outlive the Solver. Null = RealClock().
  Clock* clock = nullptr;
  // Bounds of the per-step output tail kept for error messages.
  size_t log_tail_lines = 20;
  size_t log_tail_line_bytes = 512;
};

struct BuildRequest {
  // The vertices whose results are wanted (non-null). Duplicates are allowed.
  std::vector<VertexRef> outputs;
  BuildOptions options;
  // Optional; receives this build's progress events (see progress.h for the contract).
  ProgressSink progress;
  // Optional, not owned; must outlive the Solve call. Cancel() aborts the build.
  Cancellation* cancel = nullptr;
};

struct SolveResult {
  // One per BuildRequest::outputs entry, in the same order; never null.
  std::vector<ResultRef> outputs;
};

namespace internal {
class Scheduler;
}  // namespace internal

class Solver {
 public:
  explicit Solver(SolverOptions options);
  // Requires every Solve call to have returned.
  ~Solver();
  Solver(const Solver&) = delete;
  Solver& operator=(const Solver&) = delete;

  // Runs a build to completion and blocks until it is done.
  // Errors: InvalidArgument for a null output vertex; Cancelled when request.cancel fired;
  // otherwise the first failed step's error (its op's code, wrapped by step_error.h).
  absl::StatusOr<SolveResult> Solve(const BuildRequest& request);

  // The number of worker threads.
  size_t parallelism() const;

 private:
  std::unique_ptr<internal::Scheduler> scheduler_;
};

}  // namespace kiln::engine::solver

#endif  // KILN_ENGINE_SOLVER_SOLVER_H_
