// Child side: the run's pid 1 before it becomes kiln-init. It finishes the namespace setup (fds,
// mounts, hostname, lo, pivot_root, user, workdir), starts the worker (pid 2) with CLONE_VM, and
// execs kiln-init from the Sandbox's memfd (sandbox/init/kiln_init.cc), which reaps zombies,
// forwards signals and reports the worker's status and rusage. The worker waits until kiln-init
// says it is ready (non-dumpable) before it runs anything of the run.
#include <linux/capability.h>
#include <linux/seccomp.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "sandbox/child_syscalls.h"

namespace kiln::sandbox::internal {
namespace {

constexpr int kMaxGroups = 64;

struct WorkerArgs {
  LaunchPlan* plan;
  ResolvedUser user;
  uint32_t groups[kMaxGroups];
  int cwdfd;
  int ready_fd;  // read end of the "ready" pipe; kiln-init holds the write end as fd 4
};

struct KernelSigaction {
  __sighandler_t handler;
  unsigned long flags;
  void* restorer;
  uint64_t mask;
};

void SetupFdsInChild(const LaunchPlan& plan) {
  const int from[5] = {plan.report_fd, plan.sync_fd, plan.init_image_fd, plan.stdout_fd,
                       plan.stderr_fd};
  const int to[5] = {kReportFd, kSyncFd, kInitImageFd, 1, 2};
  int high[5];
  for (int i = 0; i < 5; ++i) {
    high[i] = static_cast<int>(syscall(SYS_fcntl, from[i], F_DUPFD_CLOEXEC, 10));
    if (high[i] < 0) ExitInChild(125);  // cannot report yet
  }
  for (int i = 0; i < 5; ++i) {
    if (syscall(SYS_dup3, high[i], to[i], i < 3 ? O_CLOEXEC : 0) < 0) ExitInChild(125);
  }
  if (syscall(SYS_close_range, kInitImageFd + 1, ~0U, 0) < 0) {
    FailInChild(Step::kSetupFds, errno);
  }
}

// Leaves the write end of a new pipe at kReadyFd (inherited by kiln-init) and returns the read
// end (CLOEXEC, above 10) for the worker.
int MakeReadyPipeInChild() {
  int p[2];
  if (syscall(SYS_pipe2, p, O_CLOEXEC) < 0) FailInChild(Step::kSpawnWorker, errno);
  int r = static_cast<int>(syscall(SYS_fcntl, p[0], F_DUPFD_CLOEXEC, 10));
  int w = static_cast<int>(syscall(SYS_fcntl, p[1], F_DUPFD_CLOEXEC, 10));
  if (r < 0 || w < 0) FailInChild(Step::kSpawnWorker, errno);
  CloseInChild(p[0]);
  CloseInChild(p[1]);
  if (syscall(SYS_dup3, w, kReadyFd, 0) < 0) FailInChild(Step::kSpawnWorker, errno);
  CloseInChild(w);
  return r;
}

// Waits until kiln-init is running and non-dumpable (its one byte on the ready pipe).
KILN_CHILD_STACK_SAFE void WaitForInitInChild(int ready_fd) {
  CloseInChild(kReadyFd);  // this process's copy of the write end
  char b = 0;
  long n;
  do {
    n = syscall(SYS_read, ready_fd, &b, 1);
  } while (n < 0 && errno == EINTR);
  if (n != 1) FailInChild(Step::kStartInit, n < 0 ? errno : ESRCH);
  CloseInChild(ready_fd);
}

void LoopbackUpInChild() {
  int s = static_cast<int>(syscall(SYS_socket, AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (s < 0) FailInChild(Step::kLoopback, errno);
  ifreq ifr;
  ZeroBytes(&ifr, sizeof(ifr));
  CStrCopy(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
  if (syscall(SYS_ioctl, s, SIOCGIFFLAGS, &ifr) < 0) FailInChild(Step::kLoopback, errno);
  ifr.ifr_flags = static_cast<short>(ifr.ifr_flags | IFF_UP | IFF_RUNNING);
  if (syscall(SYS_ioctl, s, SIOCSIFFLAGS, &ifr) < 0) FailInChild(Step::kLoopback, errno);
  CloseInChild(s);
}

void PivotRootInChild(const LaunchPlan& plan) {
  if (syscall(SYS_chdir, plan.staging.c_str()) < 0) FailInChild(Step::kPivotRoot, errno);
  if (syscall(SYS_pivot_root, ".", ".") < 0) FailInChild(Step::kPivotRoot, errno);
  if (syscall(SYS_umount2, ".", MNT_DETACH) < 0) FailInChild(Step::kPivotRoot, errno);
  if (syscall(SYS_chdir, "/") < 0) FailInChild(Step::kPivotRoot, errno);
}

KILN_CHILD_STACK_SAFE void ResetSignalsInChild() {
  KernelSigaction dfl;
  ZeroBytes(&dfl, sizeof(dfl));
  dfl.handler = SIG_DFL;
  for (int sig = 1; sig < 65; ++sig) {
    if (sig == SIGKILL || sig == SIGSTOP) continue;
    syscall(SYS_rt_sigaction, sig, &dfl, nullptr, 8);
  }
  uint64_t empty = 0;
  if (syscall(SYS_rt_sigprocmask, SIG_SETMASK, &empty, nullptr, 8) < 0) {
    FailInChild(Step::kSignals, errno);
  }
}

KILN_CHILD_STACK_SAFE void DropPrivilegesInChild(const WorkerArgs& w) {
  const LaunchPlan& plan = *w.plan;
  for (int c = 0; c <= plan.last_cap; ++c) {
    if (((plan.cap_mask >> c) & 1U) != 0) continue;
    if (syscall(SYS_prctl, PR_CAPBSET_DROP, c, 0, 0, 0) < 0 && errno != EINVAL) {
      FailInChild(Step::kBoundingSet, errno, c);
    }
  }
  if (plan.setgroups_allowed &&
      syscall(SYS_setgroups, w.user.ngroups, w.user.ngroups > 0 ? w.groups : nullptr) < 0) {
    FailInChild(Step::kSetgroups, errno);
  }
  if (syscall(SYS_setresgid, w.user.gid, w.user.gid, w.user.gid) < 0) {
    FailInChild(Step::kSetgid, errno, 0, nullptr, w.user.uid, w.user.gid);
  }
  if (syscall(SYS_setresuid, w.user.uid, w.user.uid, w.user.uid) < 0) {
    FailInChild(Step::kSetuid, errno, 0, nullptr, w.user.uid, w.user.gid);
  }
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2];
  ZeroBytes(data, sizeof(data));
  if (w.user.uid == 0) {
    for (int i = 0; i < 2; ++i) {
      auto word = static_cast<uint32_t>(plan.cap_mask >> (32 * i));
      data[i].effective = data[i].permitted = data[i].inheritable = word;
    }
  }
  if (syscall(SYS_capset, &header, data) < 0) FailInChild(Step::kCapset, errno);
  if (syscall(SYS_prctl, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0) {
    FailInChild(Step::kAmbient, errno);
  }
}

KILN_CHILD_STACK_SAFE int WorkerMainInChild(void* arg) {
  auto* w = static_cast<WorkerArgs*>(arg);
  const LaunchPlan& plan = *w->plan;
  WaitForInitInChild(w->ready_fd);
  ResetSignalsInChild();
  if (syscall(SYS_setsid) < 0) FailInChild(Step::kSetsid, errno);
  if (syscall(SYS_fchdir, w->cwdfd) < 0) FailInChild(Step::kWorkdir, errno);
  for (size_t i = 0; i < plan.rlimits.size(); ++i) {
    if (syscall(SYS_prlimit64, 0, plan.rlimits[i].first, &plan.rlimits[i].second, nullptr) < 0) {
      FailInChild(Step::kRlimit, errno, static_cast<int32_t>(i));
    }
  }
  DropPrivilegesInChild(*w);
  syscall(SYS_umask, 022);
  if (syscall(SYS_close_range, kReportFd + 1, ~0U, 0) < 0) FailInChild(Step::kCloseFds, errno);
  if (syscall(SYS_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
    FailInChild(Step::kNoNewPrivs, errno);
  }
  if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &plan.filter) < 0) {
    FailInChild(Step::kSeccomp, errno);
  }
  int err = ENOENT;
  for (const std::string& path : plan.exec_candidates) {
    syscall(SYS_execve, path.c_str(), plan.argv.data(), plan.envp.data());
    if (errno != ENOENT && errno != ENOTDIR) err = errno;
    if (errno == ENOEXEC || errno == E2BIG || errno == ENOMEM) break;
  }
  FailInChild(Step::kExec, err, 0, plan.argv_storage[0].c_str());
}

// Replaces this process (pid 1) with kiln-init from the memfd at kInitImageFd; needs no path
// and no /proc. Signals stay blocked across the exec; fd 3 (report) and fd 4 (ready) are
// inherited.
[[noreturn]] void ExecInitInChild(int worker) {
  if (syscall(SYS_fcntl, kReportFd, F_SETFD, 0) < 0) FailInChild(Step::kExecInit, errno);
  char env[sizeof(kInitWorkerEnv) + 12];
  size_t n = CStrCopy(env, sizeof(env), kInitWorkerEnv);
  char digits[12];
  int nd = 0;
  for (unsigned v = static_cast<unsigned>(worker); nd == 0 || v != 0; v /= 10) {
    digits[nd++] = static_cast<char>('0' + v % 10);
  }
  while (nd > 0) env[n++] = digits[--nd];
  env[n] = '\0';
  char name[sizeof(kInitName)];
  CStrCopy(name, sizeof(name), kInitName);
  char* argv[2] = {name, nullptr};
  char* envp[2] = {env, nullptr};
  syscall(SYS_execveat, kInitImageFd, "", argv, envp, AT_EMPTY_PATH);
  FailInChild(Step::kExecInit, errno);
}

}  // namespace

void InitMainInChild(LaunchPlan& plan) {
  SetupFdsInChild(plan);
  syscall(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
  char go = 0;
  if (syscall(SYS_read, kSyncFd, &go, 1) != 1) ExitInChild(125);  // parent gave up
  if (!plan.wait_for_network) CloseInChild(kSyncFd);
  if (syscall(SYS_mount, nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) < 0) {
    FailInChild(Step::kMakePrivate, errno);
  }
  RunMountOpsInChild(plan);
  if (syscall(SYS_sethostname, plan.hostname.c_str(), plan.hostname.size()) < 0) {
    FailInChild(Step::kHostname, errno);
  }
  if (plan.loopback_up) LoopbackUpInChild();
  PivotRootInChild(plan);
  int rootfd =
      static_cast<int>(syscall(SYS_openat, AT_FDCWD, "/", O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (rootfd < 0) FailInChild(Step::kPivotRoot, errno);
  // stdin: the container's /dev/null, opened only now so no host file is ever fd 0.
  int null_fd = OpenInRootInChild(rootfd, "dev/null", O_RDONLY);
  if (null_fd < 0 || syscall(SYS_dup3, null_fd, 0, 0) < 0) FailInChild(Step::kSetupFds, errno);
  CloseInChild(null_fd);
  WorkerArgs w;  // lives as long as this frame (forever); shared with the CLONE_VM worker
  w.plan = &plan;
  ResolveUserInChild(plan, rootfd, &w.user, w.groups, kMaxGroups);
  int rc = MkdirAllInChild(rootfd, plan.cwd.c_str(), 0755);
  if (rc < 0) FailInChild(Step::kWorkdir, -rc, 0, plan.cwd.c_str());
  w.cwdfd = OpenInRootInChild(rootfd, plan.cwd.c_str(), O_PATH | O_DIRECTORY);
  if (w.cwdfd < 0) FailInChild(Step::kWorkdir, errno, 0, plan.cwd.c_str());
  CloseInChild(rootfd);
  if (plan.wait_for_network) {  // the helper, started concurrently, is ready
    if (syscall(SYS_read, kSyncFd, &go, 1) != 1) ExitInChild(125);  // parent gave up
    CloseInChild(kSyncFd);
  }
  // Not ptrace-able or /proc/1-readable from the run until kiln-init runs (which makes itself
  // non-dumpable before the worker may go on); execve makes the worker dumpable again.
  syscall(SYS_prctl, PR_SET_DUMPABLE, 0, 0, 0, 0);
  w.ready_fd = MakeReadyPipeInChild();
  uint64_t all = ~0ULL;
  if (syscall(SYS_rt_sigprocmask, SIG_SETMASK, &all, nullptr, 8) < 0) {
    FailInChild(Step::kSignals, errno);
  }
  uintptr_t top = reinterpret_cast<uintptr_t>(plan.worker_stack.get() + plan.worker_stack_size);
  top &= ~uintptr_t{63};
  // CLONE_VM without CLONE_VFORK: the worker keeps this address space (and `w`) after this
  // process execs kiln-init, and waits for kiln-init's ready byte.
  int worker = ::clone(WorkerMainInChild, reinterpret_cast<void*>(top), CLONE_VM | SIGCHLD, &w);
  if (worker < 0) FailInChild(Step::kSpawnWorker, errno);
  CloseInChild(w.cwdfd);
  CloseInChild(w.ready_fd);
  ExecInitInChild(worker);
}

}  // namespace kiln::sandbox::internal
