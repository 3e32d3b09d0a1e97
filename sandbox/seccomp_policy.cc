#include "sandbox/seccomp_policy.h"

#include <linux/capability.h>
#include <seccomp.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <memory>

#include "absl/strings/str_cat.h"
#include "base/status.h"
#include "base/unique_fd.h"

namespace kiln::sandbox {
namespace {

struct SeccompRelease {
  void operator()(scmp_filter_ctx ctx) const { seccomp_release(ctx); }
};
using SeccompCtx = std::unique_ptr<void, SeccompRelease>;

// Docker's default allow-list (moby profiles/seccomp/default.json, syscalls allowed for every
// container). Names that do not exist on an architecture are skipped for it.
const char* const kDockerAllowed[] = {
    "accept",
    "accept4",
    "access",
    "adjtimex",
    "alarm",
    "bind",
    "brk",
    "cachestat",
    "capget",
    "capset",
    "chdir",
    "chmod",
    "chown",
    "chown32",
    "clock_adjtime",
    "clock_adjtime64",
    "clock_getres",
    "clock_getres_time64",
    "clock_gettime",
    "clock_gettime64",
    "clock_nanosleep",
    "clock_nanosleep_time64",
    "close",
    "close_range",
    "connect",
    "copy_file_range",
    "creat",
    "dup",
    "dup2",
    "dup3",
    "epoll_create",
    "epoll_create1",
    "epoll_ctl",
    "epoll_ctl_old",
    "epoll_pwait",
    "epoll_pwait2",
    "epoll_wait",
    "epoll_wait_old",
    "eventfd",
    "eventfd2",
    "execve",
    "execveat",
    "exit",
    "exit_group",
    "faccessat",
    "faccessat2",
    "fadvise64",
    "fadvise64_64",
    "fallocate",
    "fanotify_mark",
    "fchdir",
    "fchmod",
    "fchmodat",
    "fchmodat2",
    "fchown",
    "fchown32",
    "fchownat",
    "fcntl",
    "fcntl64",
    "fdatasync",
    "fgetxattr",
    "flistxattr",
    "flock",
    "fork",
    "fremovexattr",
    "fsetxattr",
    "fstat",
    "fstat64",
    "fstatat64",
    "fstatfs",
    "fstatfs64",
    "fsync",
    "ftruncate",
    "ftruncate64",
    "futex",
    "futex_requeue",
    "futex_time64",
    "futex_wait",
    "futex_waitv",
    "futex_wake",
    "futimesat",
    "getcpu",
    "getcwd",
    "getdents",
    "getdents64",
    "getegid",
    "getegid32",
    "geteuid",
    "geteuid32",
    "getgid",
    "getgid32",
    "getgroups",
    "getgroups32",
    "getitimer",
    "getpeername",
    "getpgid",
    "getpgrp",
    "getpid",
    "getppid",
    "getpriority",
    "getrandom",
    "getresgid",
    "getresgid32",
    "getresuid",
    "getresuid32",
    "getrlimit",
    "get_robust_list",
    "getrusage",
    "getsid",
    "getsockname",
    "getsockopt",
    "get_thread_area",
    "gettid",
    "gettimeofday",
    "getuid",
    "getuid32",
    "getxattr",
    "inotify_add_watch",
    "inotify_init",
    "inotify_init1",
    "inotify_rm_watch",
    "io_cancel",
    "ioctl",
    "io_destroy",
    "io_getevents",
    "io_pgetevents",
    "io_pgetevents_time64",
    "ioprio_get",
    "ioprio_set",
    "io_setup",
    "io_submit",
    "ipc",
    "kill",
    "landlock_add_rule",
    "landlock_create_ruleset",
    "landlock_restrict_self",
    "lchown",
    "lchown32",
    "lgetxattr",
    "link",
    "linkat",
    "listen",
    "listxattr",
    "llistxattr",
    "_llseek",
    "lremovexattr",
    "lseek",
    "lsetxattr",
    "lstat",
    "lstat64",
    "madvise",
    "map_shadow_stack",
    "membarrier",
    "memfd_create",
    "memfd_secret",
    "mincore",
    "mkdir",
    "mkdirat",
    "mknod",
    "mknodat",
    "mlock",
    "mlock2",
    "mlockall",
    "mmap",
    "mmap2",
    "mprotect",
    "mq_getsetattr",
    "mq_notify",
    "mq_open",
    "mq_timedreceive",
    "mq_timedreceive_time64",
    "mq_timedsend",
    "mq_timedsend_time64",
    "mq_unlink",
    "mremap",
    "msgctl",
    "msgget",
    "msgrcv",
    "msgsnd",
    "msync",
    "munlock",
    "munlockall",
    "munmap",
    "name_to_handle_at",
    "nanosleep",
    "newfstatat",
    "_newselect",
    "open",
    "openat",
    "openat2",
    "pause",
    "pidfd_open",
    "pidfd_send_signal",
    "pipe",
    "pipe2",
    "pkey_alloc",
    "pkey_free",
    "pkey_mprotect",
    "poll",
    "ppoll",
    "ppoll_time64",
    "prctl",
    "pread64",
    "preadv",
    "preadv2",
    "prlimit64",
    "process_mrelease",
    "pselect6",
    "pselect6_time64",
    "pwrite64",
    "pwritev",
    "pwritev2",
    "read",
    "readahead",
    "readlink",
    "readlinkat",
    "readv",
    "recv",
    "recvfrom",
    "recvmmsg",
    "recvmmsg_time64",
    "recvmsg",
    "remap_file_pages",
    "removexattr",
    "rename",
    "renameat",
    "renameat2",
    "restart_syscall",
    "rmdir",
    "rseq",
    "rt_sigaction",
    "rt_sigpending",
    "rt_sigprocmask",
    "rt_sigqueueinfo",
    "rt_sigreturn",
    "rt_sigsuspend",
    "rt_sigtimedwait",
    "rt_sigtimedwait_time64",
    "rt_tgsigqueueinfo",
    "sched_getaffinity",
    "sched_getattr",
    "sched_getparam",
    "sched_get_priority_max",
    "sched_get_priority_min",
    "sched_getscheduler",
    "sched_rr_get_interval",
    "sched_rr_get_interval_time64",
    "sched_setaffinity",
    "sched_setattr",
    "sched_setparam",
    "sched_setscheduler",
    "sched_yield",
    "seccomp",
    "select",
    "semctl",
    "semget",
    "semop",
    "semtimedop",
    "semtimedop_time64",
    "send",
    "sendfile",
    "sendfile64",
    "sendmmsg",
    "sendmsg",
    "sendto",
    "setfsgid",
    "setfsgid32",
    "setfsuid",
    "setfsuid32",
    "setgid",
    "setgid32",
    "setgroups",
    "setgroups32",
    "setitimer",
    "setpgid",
    "setpriority",
    "setregid",
    "setregid32",
    "setresgid",
    "setresgid32",
    "setresuid",
    "setresuid32",
    "setreuid",
    "setreuid32",
    "setrlimit",
    "set_robust_list",
    "setsid",
    "setsockopt",
    "set_thread_area",
    "set_tid_address",
    "setuid",
    "setuid32",
    "setxattr",
    "shmat",
    "shmctl",
    "shmdt",
    "shmget",
    "shutdown",
    "sigaltstack",
    "signalfd",
    "signalfd4",
    "sigprocmask",
    "sigreturn",
    "socketcall",
    "socketpair",
    "splice",
    "stat",
    "stat64",
    "statfs",
    "statfs64",
    "statx",
    "symlink",
    "symlinkat",
    "sync",
    "sync_file_range",
    "syncfs",
    "sysinfo",
    "tee",
    "tgkill",
    "time",
    "timer_create",
    "timer_delete",
    "timer_getoverrun",
    "timer_gettime",
    "timer_gettime64",
    "timer_settime",
    "timer_settime64",
    "timerfd_create",
    "timerfd_gettime",
    "timerfd_gettime64",
    "timerfd_settime",
    "timerfd_settime64",
    "times",
    "tkill",
    "truncate",
    "truncate64",
    "ugetrlimit",
    "umask",
    "uname",
    "unlink",
    "unlinkat",
    "utime",
    "utimensat",
    "utimensat_time64",
    "utimes",
    "vfork",
    "vmsplice",
    "wait4",
    "waitid",
    "waitpid",
    "write",
    "writev",
    // Allowed by Docker on kernels >= 4.8 (where seccomp runs before ptrace checks).
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "kcmp",
    // x86 specific.
    "arch_prctl",
    "modify_ldt",
};

// CLONE_NEWNS | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET | NEWCGROUP.
constexpr uint64_t kCloneNamespaceFlags = 0x7E020000;

scmp_compare ToScmpOp(ArgOp op) {
  switch (op) {
    case ArgOp::kEqual:
      return SCMP_CMP_EQ;
    case ArgOp::kNotEqual:
      return SCMP_CMP_NE;
    case ArgOp::kMaskedEqual:
      return SCMP_CMP_MASKED_EQ;
  }
  return SCMP_CMP_EQ;
}

uint32_t ToScmpAction(SeccompAction action, int errno_value) {
  switch (action) {
    case SeccompAction::kAllow:
      return SCMP_ACT_ALLOW;
    case SeccompAction::kErrno:
      return SCMP_ACT_ERRNO(static_cast<uint16_t>(errno_value));
    case SeccompAction::kKillProcess:
      return SCMP_ACT_KILL_PROCESS;
  }
  return SCMP_ACT_KILL_PROCESS;
}

bool KnownOnAnyArch(const std::string& name, const std::vector<std::string>& arches) {
  if (seccomp_syscall_resolve_name(name.c_str()) != __NR_SCMP_ERROR) return true;
  for (const std::string& a : arches) {
    uint32_t token = seccomp_arch_resolve_name(a.c_str());
    if (token != 0 && seccomp_syscall_resolve_name_arch(token, name.c_str()) != __NR_SCMP_ERROR) {
      return true;
    }
  }
  return false;
}

absl::Status AddRule(scmp_filter_ctx ctx, const SyscallRule& rule) {
  int nr = seccomp_syscall_resolve_name(rule.name.c_str());
  std::vector<scmp_arg_cmp> cmps;
  for (const ArgCondition& c : rule.conditions) {
    scmp_arg_cmp cmp{};
    cmp.arg = c.index;
    cmp.op = ToScmpOp(c.op);
    cmp.datum_a = c.op == ArgOp::kMaskedEqual ? c.mask : c.value;
    cmp.datum_b = c.op == ArgOp::kMaskedEqual ? c.value : 0;
    cmps.push_back(cmp);
  }
  // libseccomp resolves names of other architectures (e.g. "chown32") to pseudo numbers that
  // it translates per architecture; a name unknown everywhere was rejected by the builder.
  if (nr == __NR_SCMP_ERROR) return absl::OkStatus();
  int rc = seccomp_rule_add_array(ctx, ToScmpAction(rule.action, rule.errno_value), nr,
                                  static_cast<unsigned>(cmps.size()), cmps.data());
  if (rc != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("seccomp rule '", rule.name, "': libseccomp refused it (errno ", -rc, ")"));
  }
  return absl::OkStatus();
}

}  // namespace

SeccompPolicyBuilder& SeccompPolicyBuilder::DefaultErrno(int errno_value) {
  policy_.default_action = SeccompAction::kErrno;
  policy_.default_errno = errno_value;
  return *this;
}

SeccompPolicyBuilder& SeccompPolicyBuilder::AddArch(const std::string& arch) {
  if (!first_error_.ok()) return *this;
  if (seccomp_arch_resolve_name(arch.c_str()) == 0) {
    first_error_ = absl::InvalidArgumentError(
        absl::StrCat("seccomp arch '", arch, "': unknown, expected a libseccomp name like x86"));
    return *this;
  }
  policy_.extra_arches.push_back(arch);
  return *this;
}

void SeccompPolicyBuilder::Add(SyscallRule rule) {
  if (!first_error_.ok()) return;
  if (!KnownOnAnyArch(rule.name, policy_.extra_arches)) {
    first_error_ = absl::InvalidArgumentError(
        absl::StrCat("seccomp rule '", rule.name, "': unknown syscall on every architecture"));
    return;
  }
  for (const ArgCondition& c : rule.conditions) {
    if (c.index > 5) {
      first_error_ = absl::InvalidArgumentError(
          absl::StrCat("seccomp rule '", rule.name, "': argument index ", c.index, " > 5"));
      return;
    }
  }
  policy_.rules.push_back(std::move(rule));
}

SeccompPolicyBuilder& SeccompPolicyBuilder::Allow(const std::vector<std::string>& names) {
  for (const std::string& n : names) Add(SyscallRule{n, SeccompAction::kAllow, 0, {}});
  return *this;
}

SeccompPolicyBuilder& SeccompPolicyBuilder::AllowIf(const std::string& name,
                                                    std::vector<ArgCondition> conditions) {
  Add(SyscallRule{name, SeccompAction::kAllow, 0, std::move(conditions)});
  return *this;
}

SeccompPolicyBuilder& SeccompPolicyBuilder::Errno(const std::string& name, int errno_value) {
  Add(SyscallRule{name, SeccompAction::kErrno, errno_value, {}});
  return *this;
}

absl::StatusOr<SeccompPolicy> SeccompPolicyBuilder::Build() {
  if (!first_error_.ok()) return first_error_;
  return policy_;
}

absl::StatusOr<SeccompPolicy> DockerDefaultPolicy(const CapabilitySet& caps) {
  SeccompPolicyBuilder b;
  b.DefaultErrno(EPERM);
#if defined(__x86_64__)
  b.AddArch("x86").AddArch("x32");
#endif
  b.Allow(std::vector<std::string>(std::begin(kDockerAllowed), std::end(kDockerAllowed)));
  // socket: every family (Docker allows all; raw sockets are gated by CAP_NET_RAW and the
  // network namespace).
  b.Allow({"socket"});
  for (uint64_t persona : {0x0ULL, 0x8ULL, 0x20000ULL, 0x20008ULL, 0xffffffffULL}) {
    b.AllowIf("personality", {ArgCondition{0, ArgOp::kEqual, persona, 0}});
  }
  b.AllowIf("clone", {ArgCondition{0, ArgOp::kMaskedEqual, 0, kCloneNamespaceFlags}});
  b.Errno("clone3", ENOSYS);
  if (caps.Has(CAP_SYS_CHROOT)) b.Allow({"chroot"});
  if (caps.Has(CAP_SYS_ADMIN)) {
    b.Allow({"bpf",         "fanotify_init",   "fsconfig", "fsmount",       "fsopen",
             "fspick",      "lookup_dcookie",  "mount",    "mount_setattr", "move_mount",
             "open_tree",   "perf_event_open", "quotactl", "quotactl_fd",   "setdomainname",
             "sethostname", "setns",           "syslog",   "umount2",       "unshare",
             "clone3"});
  }
  if (caps.Has(CAP_SYS_BOOT)) b.Allow({"reboot"});
  if (caps.Has(CAP_SYS_MODULE)) b.Allow({"delete_module", "init_module", "finit_module"});
  if (caps.Has(CAP_SYS_PACCT)) b.Allow({"acct"});
  if (caps.Has(CAP_SYS_RAWIO)) b.Allow({"iopl", "ioperm"});
  if (caps.Has(CAP_SYS_TIME)) b.Allow({"settimeofday", "stime", "clock_settime"});
  if (caps.Has(CAP_SYS_TTY_CONFIG)) b.Allow({"vhangup"});
  if (caps.Has(CAP_SYS_NICE)) b.Allow({"get_mempolicy", "mbind", "set_mempolicy"});
  if (caps.Has(CAP_SYSLOG)) b.Allow({"syslog"});
  return b.Build();
}

absl::StatusOr<SeccompProgram> CompileSeccompPolicy(const SeccompPolicy& policy) {
  SeccompCtx ctx(seccomp_init(ToScmpAction(policy.default_action, policy.default_errno)));
  if (!ctx) return absl::InternalError("seccomp_init: libseccomp failed");
  // A binary search over syscall numbers instead of a linear scan: every syscall the build
  // makes runs this filter.
  int opt = seccomp_attr_set(ctx.get(), SCMP_FLTATR_CTL_OPTIMIZE, 2);
  if (opt != 0) return base::ErrnoError(-opt, "seccomp_attr_set CTL_OPTIMIZE");
  for (const std::string& arch : policy.extra_arches) {
    int rc = seccomp_arch_add(ctx.get(), seccomp_arch_resolve_name(arch.c_str()));
    if (rc != 0 && rc != -EEXIST) return base::ErrnoError(-rc, "seccomp_arch_add '" + arch + "'");
  }
  for (const SyscallRule& rule : policy.rules) KILN_RETURN_IF_ERROR(AddRule(ctx.get(), rule));
  base::UniqueFd mem(::memfd_create("kiln-seccomp", MFD_CLOEXEC));
  if (!mem) return base::ErrnoError("memfd_create 'kiln-seccomp'");
  int rc = seccomp_export_bpf(ctx.get(), mem.get());
  if (rc != 0) return base::ErrnoError(-rc, "seccomp_export_bpf");
  off_t size = ::lseek(mem.get(), 0, SEEK_END);
  if (size <= 0 || size % static_cast<off_t>(sizeof(sock_filter)) != 0) {
    return absl::InternalError("seccomp_export_bpf: unexpected program size");
  }
  SeccompProgram prog;
  prog.instructions.resize(static_cast<size_t>(size) / sizeof(sock_filter));
  if (::pread(mem.get(), prog.instructions.data(), static_cast<size_t>(size), 0) != size) {
    return base::ErrnoError("read compiled seccomp filter");
  }
  return prog;
}

}  // namespace kiln::sandbox
