// kiln-init: the run's pid 1. A tiny static program with no libc (raw system calls and its own
// _start), so pid 1 of a RUN holds nothing of the daemon's address space.
//
// Started by the forked init (init_child.cc) with execveat(memfd, "", AT_EMPTY_PATH) once the
// worker (pid 2) exists, with every signal blocked (the mask survives exec), fd 3 = the report
// pipe, fd 4 = the "ready" pipe, and KILN_INIT_WORKER=<worker pid> in its environment. It makes
// itself non-dumpable, names itself, closes every other fd, says "ready" (the worker waits for
// that before running anything of the run), then reaps zombies, forwards signals to the worker,
// and reports the worker's wait status and rusage on fd 3 when it exits.
#include <asm/unistd.h>
#include <linux/prctl.h>
#include <linux/wait.h>

#include "sandbox/init_protocol.h"

namespace {

using kiln::sandbox::internal::ChildReport;
using kiln::sandbox::internal::kInitName;
using kiln::sandbox::internal::kInitWorkerEnv;
using kiln::sandbox::internal::kReadyFd;
using kiln::sandbox::internal::kReportFd;
using kiln::sandbox::internal::ReportKind;

constexpr long kSigchld = 17;
constexpr long kSigkill = 9;
constexpr long kSigstop = 19;
constexpr long kEintr = 4;

#if defined(__x86_64__)
long Syscall(long n, long a = 0, long b = 0, long c = 0, long d = 0, long e = 0) {
  long ret;
  register long r10 __asm__("r10") = d;
  register long r8 __asm__("r8") = e;
  __asm__ volatile("syscall"
                   : "=a"(ret)
                   : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8)
                   : "rcx", "r11", "memory");
  return ret;
}
#elif defined(__aarch64__)
long Syscall(long n, long a = 0, long b = 0, long c = 0, long d = 0, long e = 0) {
  register long x8 __asm__("x8") = n;
  register long x0 __asm__("x0") = a;
  register long x1 __asm__("x1") = b;
  register long x2 __asm__("x2") = c;
  register long x3 __asm__("x3") = d;
  register long x4 __asm__("x4") = e;
  __asm__ volatile("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4) : "memory");
  return x0;
}
#else
#error "kiln-init: only x86-64 and arm64"
#endif

[[noreturn]] void Exit(long code) {
  for (;;) Syscall(__NR_exit_group, code);
}

void Zero(void* p, unsigned long n) {
  auto* b = static_cast<volatile unsigned char*>(p);
  for (unsigned long i = 0; i < n; ++i) b[i] = 0;
}

// The worker's pid from KILN_INIT_WORKER=<pid>; 0 if absent or malformed.
long WorkerPid(char** envp) {
  for (; *envp != nullptr; ++envp) {
    const char* e = *envp;
    unsigned long i = 0;
    while (kInitWorkerEnv[i] != '\0' && e[i] == kInitWorkerEnv[i]) ++i;
    if (kInitWorkerEnv[i] != '\0') continue;
    long pid = 0;
    for (e += i; *e >= '0' && *e <= '9' && pid < (1L << 30); ++e) pid = pid * 10 + (*e - '0');
    return *e == '\0' ? pid : 0;
  }
  return 0;
}

void Report(const ChildReport& r) {
  while (Syscall(__NR_write, kReportFd, reinterpret_cast<long>(&r), sizeof(r)) == -kEintr) {
  }
}

[[noreturn]] void ReapForever(long worker) {
  unsigned long all = ~0UL;
  for (;;) {
    char info[128];  // siginfo_t
    long sig = Syscall(__NR_rt_sigtimedwait, reinterpret_cast<long>(&all),
                       reinterpret_cast<long>(info), 0, 8);
    if (sig < 0) continue;
    if (sig != kSigchld) {
      if (sig != kSigkill && sig != kSigstop) Syscall(__NR_kill, worker, sig);
      continue;
    }
    for (;;) {
      int status = 0;
      ChildReport r;
      Zero(&r, sizeof(r));
      long pid = Syscall(__NR_wait4, -1, reinterpret_cast<long>(&status), WNOHANG,
                         reinterpret_cast<long>(&r.usage));
      if (pid <= 0) break;
      if (pid != worker) continue;
      r.kind = ReportKind::kExit;
      r.wait_status = status;
      Report(r);
      Exit(0);
    }
  }
}

}  // namespace

extern "C" [[noreturn]] __attribute__((used)) void KilnInitMain(long* sp) {
  long argc = sp[0];
  char** envp = reinterpret_cast<char**>(sp + 1 + argc + 1);
  // Before anything else: not ptrace-able, its memory and /proc/1 entries not readable from
  // the run (execve made this process dumpable again).
  Syscall(__NR_prctl, PR_SET_DUMPABLE, 0, 0, 0, 0);
  Syscall(__NR_prctl, PR_SET_NAME, reinterpret_cast<long>(kInitName), 0, 0, 0);
  long worker = WorkerPid(envp);
  for (long fd = 0; fd < kReportFd; ++fd) Syscall(__NR_close, fd);
  Syscall(__NR_close_range, kReadyFd + 1, ~0U, 0);
  if (worker <= 0) Exit(125);  // the worker gets EOF on the ready pipe and reports
  char ready = 'r';
  long n = Syscall(__NR_write, kReadyFd, reinterpret_cast<long>(&ready), 1);
  Syscall(__NR_close, kReadyFd);
  if (n != 1) Exit(125);
  ReapForever(worker);
}

// The entry point: the kernel's initial stack (argc, argv..., 0, envp..., 0, auxv) is at sp.
#if defined(__x86_64__)
__asm__(
    ".text\n.global _start\n_start:\n"
    "  xor %rbp, %rbp\n  mov %rsp, %rdi\n  and $-16, %rsp\n  call KilnInitMain\n  hlt\n");
#elif defined(__aarch64__)
__asm__(
    ".text\n.global _start\n_start:\n"
    "  mov x29, #0\n  mov x30, #0\n  mov x0, sp\n  and sp, x0, #-16\n  bl KilnInitMain\n"
    "  brk #0\n");
#endif
