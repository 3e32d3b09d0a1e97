#include "engine/solver/solver.h"

#include "engine/solver/scheduler.h"

namespace kiln::engine::solver {

Solver::Solver(SolverOptions options)
    : scheduler_(std::make_unique<internal::Scheduler>(options)) {}

Solver::~Solver() = default;

absl::StatusOr<SolveResult> Solver::Solve(const BuildRequest& request) {
  return scheduler_->Solve(request);
}

size_t Solver::parallelism() const { return scheduler_->parallelism(); }

}  // namespace kiln::engine::solver
