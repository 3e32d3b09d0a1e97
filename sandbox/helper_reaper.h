// HelperReaper: stops and reaps network helpers (HelperProcess) off a run's critical path. A
// run's result is known when its init exits; the helper's own exit (slirp4netns tears down its
// sandbox's mount namespace, ~30 ms) then happens here, in one small thread, while the run
// returns. A helper handed over is told to exit at once (its exit pipe closes), is SIGKILLed
// after `grace` if it has not exited by then, and is always reaped: no helper outlives its run by
// more than `grace` plus its exit, and none is ever left as a zombie.
//
// Thread-safe. The thread starts with the first Adopt(). The destructor waits for every pending
// helper (so a daemon that shuts down leaves none behind) and joins the thread. If the process
// dies, the helpers' exit pipes close and their PDEATHSIG fires: they exit on their own.
#ifndef KILN_SANDBOX_HELPER_REAPER_H_
#define KILN_SANDBOX_HELPER_REAPER_H_

#include <sys/types.h>

#include <cstddef>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "base/unique_fd.h"

namespace kiln::sandbox {

class HelperReaper {
 public:
  explicit HelperReaper(absl::Duration grace = absl::Seconds(1));
  ~HelperReaper();
  HelperReaper(const HelperReaper&) = delete;
  HelperReaper& operator=(const HelperReaper&) = delete;

  // Takes a child whose stop has begun (its exit pipe is closed): `pidfd` refers to it. Never
  // blocks on the child.
  void Adopt(pid_t pid, base::UniqueFd pidfd);

  // Children handed over and not reaped yet.
  size_t pending() const;

  // Blocks until every child handed over so far is reaped (the thread keeps running).
  void WaitIdle() const;

 private:
  struct Pending {
    pid_t pid;
    base::UniqueFd pidfd;
    absl::Time kill_at;
    bool killed = false;
  };
  void Loop();
  void Wake() const;

  const absl::Duration grace_;
  base::UniqueFd wake_;  // eventfd: a new child, or the destructor
  mutable absl::Mutex mu_;
  std::vector<Pending> pending_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_ ABSL_GUARDED_BY(mu_);
};

}  // namespace kiln::sandbox

#endif  // KILN_SANDBOX_HELPER_REAPER_H_
