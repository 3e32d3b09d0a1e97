// SeccompPolicy: a syscall filter as a value, built by SeccompPolicyBuilder and compiled once to
// BPF (SeccompProgram) with libseccomp. The program is installed by the sandbox as the very last
// step before execve, after no_new_privs.
//
// DockerDefaultPolicy() has the semantics of Docker's default profile: an allow-list with
// default action ERRNO(EPERM) for the native architecture plus its compat ones (x86_64: x86,
// x32), clone without namespace flags, clone3 -> ENOSYS (so libc falls back to clone), the
// personality values Docker allows, and the capability-gated groups for the capabilities in
// the set (e.g. chroot with CAP_SYS_CHROOT). Syscalls gated on CAP_SYS_ADMIN, CAP_SYS_BOOT,
// CAP_SYS_MODULE, ... (mount, unshare, setns, reboot, init_module, kexec_load, keyctl, bpf, ...)
// are not allowed.
#ifndef KILN_SANDBOX_SECCOMP_POLICY_H_
#define KILN_SANDBOX_SECCOMP_POLICY_H_

#include <linux/filter.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "sandbox/capabilities.h"

namespace kiln::sandbox {

enum class SeccompAction { kAllow, kErrno, kKillProcess };

enum class ArgOp { kEqual, kNotEqual, kMaskedEqual };

// Compares syscall argument `index` (0-5): kEqual/kNotEqual with `value`; kMaskedEqual tests
// (arg & mask) == value.
struct ArgCondition {
  unsigned index = 0;
  ArgOp op = ArgOp::kEqual;
  uint64_t value = 0;
  uint64_t mask = 0;
};

// One rule. Rules for the same syscall with different conditions are OR-ed (each adds a case).
struct SyscallRule {
  std::string name;
  SeccompAction action = SeccompAction::kAllow;
  int errno_value = 0;                   // for kErrno
  std::vector<ArgCondition> conditions;  // all must hold (AND)
};

struct SeccompPolicy {
  SeccompAction default_action = SeccompAction::kErrno;
  int default_errno = 1;                  // EPERM
  std::vector<std::string> extra_arches;  // libseccomp names, e.g. "x86", "x32"
  std::vector<SyscallRule> rules;
};

// Records the first error (unknown syscall name, bad argument index) and returns it from
// Build(). Not thread-safe; a builder is used by one thread.
class SeccompPolicyBuilder {
 public:
  SeccompPolicyBuilder& DefaultErrno(int errno_value);
  SeccompPolicyBuilder& AddArch(const std::string& arch);
  // Names unknown on every architecture of the policy are an error; names that exist on only
  // some of them (e.g. "chown32") are fine.
  SeccompPolicyBuilder& Allow(const std::vector<std::string>& names);
  SeccompPolicyBuilder& AllowIf(const std::string& name, std::vector<ArgCondition> conditions);
  SeccompPolicyBuilder& Errno(const std::string& name, int errno_value);
  absl::StatusOr<SeccompPolicy> Build();

 private:
  void Add(SyscallRule rule);
  SeccompPolicy policy_;
  absl::Status first_error_;
};

// Docker's default profile for this architecture, with the capability-gated rules for `caps`.
absl::StatusOr<SeccompPolicy> DockerDefaultPolicy(const CapabilitySet& caps);

// A compiled filter, ready for seccomp(SECCOMP_SET_MODE_FILTER).
struct SeccompProgram {
  std::vector<sock_filter> instructions;
};

// Compiles with libseccomp (seccomp_export_bpf). Errors: InvalidArgument for a rule libseccomp
// rejects, Internal for libseccomp failures. Thread-safe (no shared state).
absl::StatusOr<SeccompProgram> CompileSeccompPolicy(const SeccompPolicy& policy);

}  // namespace kiln::sandbox

#endif  // KILN_SANDBOX_SECCOMP_POLICY_H_
