// ThreadPool: a fixed set of worker threads running submitted tasks in FIFO order.
//
// Thread-safe. Tasks must not throw. The destructor finishes every queued task and joins.
#ifndef KILN_BASE_THREAD_POOL_H_
#define KILN_BASE_THREAD_POOL_H_

#include <cstddef>
#include <deque>
#include <functional>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace kiln::base {

class ThreadPool {
 public:
  // `threads` == 0 means one per online CPU.
  explicit ThreadPool(size_t threads = 0);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  void Submit(std::function<void()> task);
  // Blocks until the queue is empty and no task is running.
  void WaitIdle();
  size_t size() const { return workers_.size(); }
  // Index of the calling worker thread in [0, size()), or -1 if not a pool thread.
  static int CurrentWorkerIndex();

 private:
  void WorkerLoop(int index);

  absl::Mutex mu_;
  std::deque<std::function<void()>> queue_ ABSL_GUARDED_BY(mu_);
  size_t running_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> workers_;
};

}  // namespace kiln::base

#endif  // KILN_BASE_THREAD_POOL_H_
