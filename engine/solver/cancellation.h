// Cancellation: a thread-safe, one-way "stop now" flag with waiting and callbacks.
//
// The solver gives every op a Cancellation (ExecContext::cancel()) and callers pass one to
// Solver::Solve to cancel a build from outside. Once cancelled it stays cancelled.
//
// Thread safety: every method may be called from any thread. Callbacks run on the thread that
// calls Cancel() (or inside AddCallback when already cancelled) and must not call back into the
// same Cancellation except cancelled()/WaitFor().
#ifndef KILN_ENGINE_SOLVER_CANCELLATION_H_
#define KILN_ENGINE_SOLVER_CANCELLATION_H_

#include <cstdint>
#include <functional>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace kiln::engine::solver {

class Cancellation {
 public:
  Cancellation() = default;
  Cancellation(const Cancellation&) = delete;
  Cancellation& operator=(const Cancellation&) = delete;
  // Callbacks still registered at destruction are dropped without running.
  ~Cancellation() = default;

  // Sets the flag, wakes every WaitFor and runs the registered callbacks once, in order of
  // registration. Later calls do nothing.
  void Cancel();

  bool cancelled() const;

  // Blocks until cancelled or `timeout` passes. Returns true if cancelled.
  bool WaitFor(absl::Duration timeout) const;

  // Registers `callback` to run once on Cancel(); runs it right away (on this thread) if
  // already cancelled and then returns 0. Otherwise returns an id (> 0) for RemoveCallback.
  uint64_t AddCallback(std::function<void()> callback);

  // Unregisters a callback. When it returns the callback is not running and will never run
  // (unless called from inside that same callback). Unknown ids and 0 are ignored.
  void RemoveCallback(uint64_t id);

 private:
  mutable absl::Mutex mu_;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  bool running_callbacks_ ABSL_GUARDED_BY(mu_) = false;
  std::thread::id callback_thread_ ABSL_GUARDED_BY(mu_);
  uint64_t next_id_ ABSL_GUARDED_BY(mu_) = 1;
  std::vector<std::pair<uint64_t, std::function<void()>>> callbacks_ ABSL_GUARDED_BY(mu_);
};

}  // namespace kiln::engine::solver

#endif  // KILN_ENGINE_SOLVER_CANCELLATION_H_
