// Internal: the sealed memfd holding kiln-init, which every run's pid 1 execs.
#ifndef KILN_SANDBOX_INIT_MEMFD_H_
#define KILN_SANDBOX_INIT_MEMFD_H_

#include "absl/status/statusor.h"
#include "base/unique_fd.h"

namespace kiln::sandbox::internal {

// A memfd named "kiln-init" (CLOEXEC; MFD_EXEC where the kernel has it) with the embedded
// binary, mode 0555, sealed against write, grow, shrink and further seals (and against
// changing its exec bits where F_SEAL_EXEC exists). Made once per Sandbox; read-only after,
// so any number of runs may exec it at once.
// Errors: from memfd_create/write/fcntl ("sandbox: memfd_create 'kiln-init': ...").
absl::StatusOr<base::UniqueFd> MakeInitMemfd();

}  // namespace kiln::sandbox::internal

#endif  // KILN_SANDBOX_INIT_MEMFD_H_
