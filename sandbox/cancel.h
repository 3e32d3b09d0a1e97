// CancelHandle: a thread-safe, one-shot cancellation signal for a sandboxed run.
//
// Any thread may call Cancel(); the thread running Sandbox::Run() watches fd() with poll(2)
// and, once cancelled, sends SIGTERM to the run and SIGKILL after the spec's grace period.
// A handle may be shared by several runs; cancelling it cancels all of them. Cancel() is
// idempotent. The handle must outlive every run that uses it.
#ifndef KILN_SANDBOX_CANCEL_H_
#define KILN_SANDBOX_CANCEL_H_

#include <atomic>

#include "base/unique_fd.h"

namespace kiln::sandbox {

class CancelHandle {
 public:
  // Creates the eventfd. If the kernel refuses one (EMFILE), fd() is -1 and runs poll the
  // flag every 50 ms instead.
  CancelHandle();
  CancelHandle(const CancelHandle&) = delete;
  CancelHandle& operator=(const CancelHandle&) = delete;

  // Thread-safe, async-signal-safe (an atomic store and a write(2)).
  void Cancel();
  bool cancelled() const { return cancelled_.load(std::memory_order_acquire); }
  // Readable once cancelled; never read from it (several runs may poll it).
  int fd() const { return fd_.get(); }

 private:
  std::atomic<bool> cancelled_{false};
  base::UniqueFd fd_;
};

}  // namespace kiln::sandbox

#endif  // KILN_SANDBOX_CANCEL_H_
