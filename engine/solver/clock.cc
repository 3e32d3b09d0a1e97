#include "engine/solver/clock.h"

#include "absl/time/clock.h"

namespace kiln::engine::solver {
namespace {

class SystemClock final : public Clock {
 public:
  absl::Time Now() const override { return absl::Now(); }
};

}  // namespace

Clock* RealClock() {
  static SystemClock* clock = new SystemClock();
  return clock;
}

}  // namespace kiln::engine::solver
