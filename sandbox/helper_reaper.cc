#include "sandbox/helper_reaper.h"

#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>

namespace kiln::sandbox {

HelperReaper::HelperReaper(absl::Duration grace)
    : grace_(grace), wake_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {}

HelperReaper::~HelperReaper() {
  std::thread thread;
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    thread = std::move(thread_);
  }
  Wake();
  if (thread.joinable()) thread.join();
  // No thread (never started, or no eventfd): nothing can be pending, see Adopt.
}

void HelperReaper::Wake() const {
  uint64_t one = 1;
  if (wake_) (void)!::write(wake_.get(), &one, sizeof one);
}

void HelperReaper::Adopt(pid_t pid, base::UniqueFd pidfd) {
  {
    absl::MutexLock lock(&mu_);
    if (wake_ && !stopping_) {
      pending_.push_back(Pending{pid, std::move(pidfd), absl::Now() + grace_});
      if (!thread_.joinable()) thread_ = std::thread([this] { Loop(); });
    }
  }
  if (!pidfd) {  // moved into pending_: the thread takes it from here
    Wake();
    return;
  }
  // No eventfd or shutting down: stop it here, the slow way.
  pollfd p = {pidfd.get(), POLLIN, 0};
  int ms = static_cast<int>(absl::ToInt64Milliseconds(grace_));
  while (::poll(&p, 1, ms) < 0 && errno == EINTR) {
  }
  if (p.revents == 0) ::syscall(SYS_pidfd_send_signal, pidfd.get(), SIGKILL, nullptr, 0);
  siginfo_t info{};
  while (::waitid(P_PIDFD, static_cast<id_t>(pidfd.get()), &info, WEXITED) != 0 && errno == EINTR) {
  }
}

size_t HelperReaper::pending() const {
  absl::MutexLock lock(&mu_);
  return pending_.size();
}

void HelperReaper::WaitIdle() const {
  absl::MutexLock lock(&mu_);
  mu_.Await(absl::Condition(
      +[](const std::vector<Pending>* p) { return p->empty(); }, &pending_));
}

void HelperReaper::Loop() {
  for (;;) {
    std::vector<pollfd> fds = {{wake_.get(), POLLIN, 0}};
    absl::Time next = absl::InfiniteFuture();
    {
      absl::MutexLock lock(&mu_);
      if (pending_.empty() && stopping_) return;
      for (const Pending& p : pending_) {
        fds.push_back({p.pidfd.get(), POLLIN, 0});
        if (!p.killed) next = std::min(next, p.kill_at);
      }
    }
    int timeout_ms = -1;
    if (next != absl::InfiniteFuture()) {
      timeout_ms =
          static_cast<int>(std::max<int64_t>(0, absl::ToInt64Milliseconds(next - absl::Now()) + 1));
    }
    if (::poll(fds.data(), fds.size(), timeout_ms) < 0 && errno != EINTR) {
      timeout_ms = 10;  // should not happen; do not spin
      ::usleep(10000);
    }
    uint64_t count;
    (void)!::read(wake_.get(), &count, sizeof count);
    absl::Time now = absl::Now();
    absl::MutexLock lock(&mu_);
    // Only this thread removes entries, so each polled pidfd is still in pending_.
    for (size_t i = 1; i < fds.size(); ++i) {
      auto it = std::find_if(pending_.begin(), pending_.end(),
                             [&](const Pending& p) { return p.pidfd.get() == fds[i].fd; });
      if (it == pending_.end()) continue;
      if (fds[i].revents != 0) {
        siginfo_t info{};
        while (::waitid(P_PIDFD, static_cast<id_t>(it->pidfd.get()), &info, WEXITED) != 0 &&
               errno == EINTR) {
        }
        pending_.erase(it);
      } else if (!it->killed && now >= it->kill_at) {
        ::syscall(SYS_pidfd_send_signal, it->pidfd.get(), SIGKILL, nullptr, 0);
        it->killed = true;
      }
    }
  }
}

}  // namespace kiln::sandbox
