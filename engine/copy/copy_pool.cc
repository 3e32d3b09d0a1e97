#include "engine/copy/copy_pool.h"

#include <utility>

namespace kiln::engine::internal {

CopyPool::CopyPool(int threads, size_t max_queued) : max_queued_(max_queued == 0 ? 1 : max_queued) {
  threads_.reserve(static_cast<size_t>(threads));
  for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { Work(); });
}

CopyPool::~CopyPool() {
  (void)Wait();
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  for (auto& t : threads_) t.join();
}

absl::Status CopyPool::Submit(std::function<absl::Status()> job) {
  absl::MutexLock lock(&mu_);
  auto room = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    return queue_.size() < max_queued_ || !first_error_.ok();
  };
  mu_.Await(absl::Condition(&room));
  if (!first_error_.ok()) return first_error_;
  queue_.push_back(std::move(job));
  return absl::OkStatus();
}

absl::Status CopyPool::Wait() {
  absl::MutexLock lock(&mu_);
  auto idle = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    return queue_.empty() && running_ == 0;
  };
  mu_.Await(absl::Condition(&idle));
  return first_error_;
}

void CopyPool::Work() {
  for (;;) {
    std::function<absl::Status()> job;
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return !queue_.empty() || stop_; };
      mu_.Await(absl::Condition(&ready));
      if (queue_.empty()) return;  // stop_ and nothing left
      job = std::move(queue_.front());
      queue_.pop_front();
      ++running_;
    }
    // After an error the remaining jobs only release their fds.
    bool skip;
    {
      absl::MutexLock lock(&mu_);
      skip = !first_error_.ok();
    }
    absl::Status s = skip ? absl::OkStatus() : job();
    job = nullptr;  // closes the job's fds before it counts as done
    absl::MutexLock lock(&mu_);
    if (!s.ok() && first_error_.ok()) first_error_ = std::move(s);
    --running_;
  }
}

}  // namespace kiln::engine::internal
