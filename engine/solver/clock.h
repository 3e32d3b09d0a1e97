// Clock: the solver's only door to wall time (progress timestamps, step timings).
//
// Tests pass a fake clock; production code uses RealClock().
#ifndef KILN_ENGINE_SOLVER_CLOCK_H_
#define KILN_ENGINE_SOLVER_CLOCK_H_

#include "absl/time/time.h"

namespace kiln::engine::solver {

class Clock {
 public:
  virtual ~Clock() = default;
  // Current time. Must be thread-safe.
  virtual absl::Time Now() const = 0;
};

// The system clock (absl::Now()). A process-wide singleton, never destroyed; thread-safe.
Clock* RealClock();

}  // namespace kiln::engine::solver

#endif  // KILN_ENGINE_SOLVER_CLOCK_H_
