#include "sandbox/cancel.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cstdint>

namespace kiln::sandbox {

CancelHandle::CancelHandle() : fd_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {}

void CancelHandle::Cancel() {
  cancelled_.store(true, std::memory_order_release);
  if (fd_.valid()) {
    uint64_t one = 1;
    (void)!::write(fd_.get(), &one, sizeof(one));
  }
}

}  // namespace kiln::sandbox
