// Internal: a few worker threads that finish file copies (contents, xattrs, owner, mode, times)
// while the walker goes on creating entries. Jobs are independent; the first error is kept
// and later jobs are dropped. The queue is bounded, so open fds stay bounded too.
#ifndef KILN_ENGINE_COPY_COPY_POOL_H_
#define KILN_ENGINE_COPY_COPY_POOL_H_

#include <cstddef>
#include <deque>
#include <functional>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"

namespace kiln::engine::internal {

class CopyPool {
 public:
  CopyPool(int threads, size_t max_queued);
  ~CopyPool();  // waits for the queued jobs, then joins
  CopyPool(const CopyPool&) = delete;
  CopyPool& operator=(const CopyPool&) = delete;

  // Queues `job`, blocking while the queue is full. Returns the first error any job has
  // returned so far (and then does not queue `job`).
  absl::Status Submit(std::function<absl::Status()> job);

  // Waits until every queued job has run; the first error.
  absl::Status Wait();

 private:
  void Work();

  const size_t max_queued_;
  absl::Mutex mu_;
  std::deque<std::function<absl::Status()>> queue_ ABSL_GUARDED_BY(mu_);
  size_t running_ ABSL_GUARDED_BY(mu_) = 0;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status first_error_ ABSL_GUARDED_BY(mu_);
  std::vector<std::thread> threads_;
};

}  // namespace kiln::engine::internal

#endif  // KILN_ENGINE_COPY_COPY_POOL_H_
