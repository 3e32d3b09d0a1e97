#include "engine/solver/cancellation.h"

#include <algorithm>

namespace kiln::engine::solver {

void Cancellation::Cancel() {
  std::vector<std::pair<uint64_t, std::function<void()>>> callbacks;
  {
    absl::MutexLock lock(&mu_);
    if (cancelled_) return;
    cancelled_ = true;
    callbacks.swap(callbacks_);
    running_callbacks_ = true;
    callback_thread_ = std::this_thread::get_id();
  }
  for (auto& [id, callback] : callbacks) callback();
  absl::MutexLock lock(&mu_);
  running_callbacks_ = false;
}

bool Cancellation::cancelled() const {
  absl::MutexLock lock(&mu_);
  return cancelled_;
}

bool Cancellation::WaitFor(absl::Duration timeout) const {
  absl::MutexLock lock(&mu_);
  mu_.AwaitWithTimeout(absl::Condition(&cancelled_), timeout);
  return cancelled_;
}

uint64_t Cancellation::AddCallback(std::function<void()> callback) {
  {
    absl::MutexLock lock(&mu_);
    if (!cancelled_) {
      uint64_t id = next_id_++;
      callbacks_.emplace_back(id, std::move(callback));
      return id;
    }
  }
  callback();
  return 0;
}

void Cancellation::RemoveCallback(uint64_t id) {
  if (id == 0) return;
  absl::MutexLock lock(&mu_);
  auto it = std::find_if(callbacks_.begin(), callbacks_.end(),
                         [id](const auto& entry) { return entry.first == id; });
  if (it != callbacks_.end()) {
    callbacks_.erase(it);
    return;
  }
  // Already taken by Cancel(): wait until it has finished running, unless we are inside it.
  if (running_callbacks_ && callback_thread_ == std::this_thread::get_id()) return;
  mu_.Await(absl::Condition(
      +[](bool* running) { return !*running; }, &running_callbacks_));
}

}  // namespace kiln::engine::solver
