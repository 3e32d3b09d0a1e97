// Internal: async-signal-safe helpers for the child side (raw syscalls, no allocation, no
// locks). Only *_child.cc files include this.
#ifndef KILN_SANDBOX_CHILD_SYSCALLS_H_
#define KILN_SANDBOX_CHILD_SYSCALLS_H_

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>

#include "sandbox/launch_plan.h"

namespace kiln::sandbox::internal {

// For code that runs on the worker's own stack (CLONE_VM): ASan would otherwise
// print "ignoring requested __asan_handle_no_return" into the run's stderr before a noreturn
// call, because the stack is not the one it knows.
#define KILN_CHILD_STACK_SAFE __attribute__((no_sanitize("address")))

inline size_t CStrLen(const char* s) {
  size_t n = 0;
  while (s[n] != '\0') ++n;
  return n;
}

// Copies at most cap-1 bytes and NUL-terminates. Returns the length copied.
inline size_t CStrCopy(char* dst, size_t cap, const char* src) {
  size_t n = 0;
  while (n + 1 < cap && src[n] != '\0') {
    dst[n] = src[n];
    ++n;
  }
  dst[n] = '\0';
  return n;
}

inline void ZeroBytes(void* p, size_t n) {
  auto* b = static_cast<volatile unsigned char*>(p);
  for (size_t i = 0; i < n; ++i) b[i] = 0;
}

[[noreturn]] inline void ExitInChild(int code) {
  for (;;) syscall(SYS_exit_group, code);
}

inline void SendReportInChild(const ChildReport& r) {
  while (syscall(SYS_write, kReportFd, &r, sizeof(r)) < 0 && errno == EINTR) {
  }
}

// Reports (step, errno) and exits the child.
[[noreturn]] KILN_CHILD_STACK_SAFE inline void FailInChild(Step step, int err, int32_t index = 0,
                                                           const char* detail = nullptr,
                                                           int64_t value = 0, int64_t value2 = 0) {
  ChildReport r;
  ZeroBytes(&r, sizeof(r));
  r.kind = ReportKind::kError;
  r.step = step;
  r.err = err;
  r.index = index;
  r.value = value;
  r.value2 = value2;
  if (detail != nullptr) CStrCopy(r.detail, sizeof(r.detail), detail);
  SendReportInChild(r);
  ExitInChild(126);
}

inline int OpenInRootInChild(int rootfd, const char* path, uint64_t flags) {
  open_how how;
  ZeroBytes(&how, sizeof(how));
  how.flags = flags | O_CLOEXEC;
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  const char* p = (path[0] == '\0') ? "." : path;
  int fd;
  do {
    fd = static_cast<int>(syscall(SYS_openat2, rootfd, p, &how, sizeof(how)));
  } while (fd < 0 && errno == EAGAIN);
  return fd;
}

inline void CloseInChild(int fd) {
  if (fd >= 0) syscall(SYS_close, fd);
}

// Mount steps (mount_child.cc). Returns 0, or fails the child with a report.
void RunMountOpsInChild(const LaunchPlan& plan);

// Resolves plan.user from the root's /etc/passwd and /etc/group (user_child.cc). `groups` has
// room for `max_groups`. Fails the child with a report on error.
struct ResolvedUser {
  uint32_t uid = 0;
  uint32_t gid = 0;
  int ngroups = 0;
};
void ResolveUserInChild(LaunchPlan& plan, int rootfd, ResolvedUser* out, uint32_t* groups,
                        int max_groups);

// Creates the directory `path` (relative to rootfd, resolved inside it) and its parents.
// Returns 0 or -errno.
int MkdirAllInChild(int rootfd, const char* path, unsigned mode);

}  // namespace kiln::sandbox::internal

#endif  // KILN_SANDBOX_CHILD_SYSCALLS_H_
