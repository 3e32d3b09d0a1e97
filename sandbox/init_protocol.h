// Internal: what the run's pid 1 (kiln-init, sandbox/init/kiln_init.cc) and the parent agree on:
// the report message, the step numbers, and the fd numbers in the child. Plain types only: the
// no-libc kiln-init binary includes it too.
#ifndef KILN_SANDBOX_INIT_PROTOCOL_H_
#define KILN_SANDBOX_INIT_PROTOCOL_H_

#include <sys/resource.h>

#include <cstdint>

namespace kiln::sandbox::internal {

// Steps the child reports failures for; names in StepName().
enum class Step : int32_t {
  kSetupFds = 1,
  kWaitParent,
  kMakePrivate,
  kMount,
  kHostname,
  kLoopback,
  kPivotRoot,
  kResolveUser,
  kUnmappedUser,
  kWorkdir,
  kSignals,
  kSpawnWorker,
  kSetsid,
  kBoundingSet,
  kSetgroups,
  kSetgid,
  kSetuid,
  kCapset,
  kAmbient,
  kRlimit,
  kNoNewPrivs,
  kSeccomp,
  kCloseFds,
  kExec,
  kExecInit,   // pid 1: execveat of the kiln-init memfd
  kStartInit,  // worker: kiln-init never said it was ready
};

enum class ReportKind : int32_t { kError = 1, kExit = 2 };

// One fixed-size message on the report pipe (a packet-mode pipe; one write per message).
struct ChildReport {
  ReportKind kind;
  Step step;
  int32_t err;     // errno
  int32_t index;   // which mount op / rlimit
  int64_t value;   // e.g. the uid that is not mapped
  int64_t value2;  // e.g. the gid
  int32_t wait_status;
  int32_t pad;
  struct rusage usage;
  char detail[256];  // NUL-terminated (kernel fs-context message, missing name, ...)
};

// Fds in the child. The report pipe is fd 3 in pid 1 and the worker (CLOEXEC in the worker, so
// its exec closes it; inherited by kiln-init). Before pid 1 execs kiln-init, fd 4 is first the
// parent's "go" pipe, then the write end of the "ready" pipe kiln-init writes one byte to once
// it is non-dumpable; fd 5 is the kiln-init memfd (CLOEXEC).
inline constexpr int kReportFd = 3;
inline constexpr int kSyncFd = 4;
inline constexpr int kReadyFd = 4;
inline constexpr int kInitImageFd = 5;

// kiln-init's environment: KILN_INIT_WORKER=<pid of the worker> (always 2 today).
inline constexpr char kInitWorkerEnv[] = "KILN_INIT_WORKER=";
inline constexpr char kInitName[] = "kiln-init";

}  // namespace kiln::sandbox::internal

#endif  // KILN_SANDBOX_INIT_PROTOCOL_H_
