#include "sandbox/init_memfd.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "base/status.h"
#include "sandbox/init_image.h"
#include "sandbox/init_protocol.h"

namespace kiln::sandbox::internal {
namespace {

// Newer than Debian's headers may be.
constexpr unsigned kMfdExec = 0x10;  // MFD_EXEC (6.3)
constexpr int kSealExec = 0x20;      // F_SEAL_EXEC (6.3)

}  // namespace

absl::StatusOr<base::UniqueFd> MakeInitMemfd() {
  int raw = ::memfd_create(kInitName, MFD_CLOEXEC | MFD_ALLOW_SEALING | kMfdExec);
  if (raw < 0 && errno == EINVAL) raw = ::memfd_create(kInitName, MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (raw < 0) return base::ErrnoError("sandbox: memfd_create 'kiln-init'");
  base::UniqueFd fd(raw);
  size_t done = 0;
  while (done < kInitImageSize) {
    ssize_t n = ::write(fd.get(), kInitImage + done, kInitImageSize - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return base::ErrnoError("sandbox: write 'memfd:kiln-init'");
    done += static_cast<size_t>(n);
  }
  if (::fchmod(fd.get(), 0555) != 0) return base::ErrnoError("sandbox: chmod 'memfd:kiln-init'");
  int seals = F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK;
  if (::fcntl(fd.get(), F_ADD_SEALS, seals | kSealExec) != 0 &&
      (errno != EINVAL || ::fcntl(fd.get(), F_ADD_SEALS, seals) != 0)) {
    return base::ErrnoError("sandbox: seal 'memfd:kiln-init'");
  }
  if (::fcntl(fd.get(), F_ADD_SEALS, F_SEAL_SEAL) != 0) {
    return base::ErrnoError("sandbox: seal 'memfd:kiln-init'");
  }
  return fd;
}

}  // namespace kiln::sandbox::internal
