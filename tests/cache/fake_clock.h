// FakeClock for cache tests: a settable time source shared by stores, index and GC.
#ifndef KILN_TESTS_CACHE_FAKE_CLOCK_H_
#define KILN_TESTS_CACHE_FAKE_CLOCK_H_

#include <functional>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace kiln::cache::test_util {

class FakeClock {
 public:
  absl::Time Now() {
    absl::MutexLock lock(&mu_);
    return now_;
  }
  void Advance(absl::Duration d) {
    absl::MutexLock lock(&mu_);
    now_ += d;
  }
  std::function<absl::Time()> Fn() {
    return [this] { return Now(); };
  }

 private:
  absl::Mutex mu_;
  absl::Time now_ ABSL_GUARDED_BY(mu_) = absl::FromUnixSeconds(1'700'000'000);
};

}  // namespace kiln::cache::test_util

#endif  // KILN_TESTS_CACHE_FAKE_CLOCK_H_
