// Sandbox: runs processes from a Spec, each in new user, mount, pid, ipc and uts namespaces
// (plus net unless NetworkMode::kHost), locked down the way Docker's defaults lock a container
// down, and torn down completely afterwards.
//
// A Sandbox is created once per process (it probes the machine, compiles the seccomp filter and
// makes a private staging directory) and then used by any number of threads at once: Run() is
// thread-safe and const. Each run clones a child that only makes raw system calls on data
// prepared before the clone, so it is safe from a multi-threaded process.
//
// Lifecycle of a run: clone (CLONE_NEWUSER|NEWNS|NEWPID|NEWIPC|NEWUTS[|NEWNET]) -> the parent
// writes uid/gid maps (newuidmap for a subordinate range), joins a per-run cgroup if one is in
// force, and for kDefault starts the network helper on the run's netns and waits until it is
// ready (once the init has exited it is stopped and reaped in the background by the Sandbox's
// HelperReaper, so Run returns without waiting for the helper's exit) -> the child (pid 1, the
// run's init) mounts the rootfs on the staging dir, /proc (masked and read-only paths as runc), a
// tmpfs /dev, /sys (read-only; only with its own network namespace, otherwise absent),
// /etc/resolv.conf and /etc/hosts (read-only), the extra mounts, sets the hostname, brings lo up,
// pivot_roots and detaches the old root, resolves the user and WORKDIR inside the new root, and
// starts the worker, which drops capabilities, switches user, sets umask 022 and rlimits, closes
// every fd but 0-2, sets no_new_privs, installs the seccomp filter and execs. The init reaps
// zombies and forwards signals. Teardown: when the worker exits the init exits, and the kernel
// kills whatever is left in the pid namespace; the mount namespace and every mount in it die with
// it. Timeout and cancellation send SIGTERM to the init (forwarded to the worker), then SIGKILL
// after the grace period.
#ifndef KILN_SANDBOX_SANDBOX_H_
#define KILN_SANDBOX_SANDBOX_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "base/unique_fd.h"
#include "sandbox/capabilities.h"
#include "sandbox/helper_reaper.h"
#include "sandbox/id_mapping.h"
#include "sandbox/limits.h"
#include "sandbox/network_helper.h"
#include "sandbox/seccomp_policy.h"
#include "sandbox/spec.h"

namespace kiln::sandbox {

struct SandboxOptions {
  CapabilitySet capabilities = CapabilitySet::DockerDefault();
  // Empty: DockerDefaultPolicy(capabilities).
  std::unique_ptr<SeccompPolicy> seccomp;
  // Where the private staging directory is made. Empty: $TMPDIR or /tmp.
  std::string state_dir;
  NetworkOptions network;  // the helper of NetworkMode::kDefault
};

class Sandbox {
 public:
  // Probes identity mapping and limit layer, compiles the seccomp policy, creates the staging
  // directory. Errors: FailedPrecondition (no user namespaces, bad /proc), InvalidArgument
  // (seccomp policy), others from errno.
  static absl::StatusOr<std::unique_ptr<Sandbox>> Create(SandboxOptions options = {});
  ~Sandbox();
  Sandbox(const Sandbox&) = delete;
  Sandbox& operator=(const Sandbox&) = delete;

  // Runs `spec` to completion (or timeout/cancel) and returns how the process ended. A
  // non-zero exit code is a Result, not an error. Errors (the run did not start):
  //   InvalidArgument  - bad spec (empty argv, relative cwd, bad user or mount description)
  //   NotFound         - user/group not in the rootfs, or the command is not found
  //   FailedPrecondition - the user needs ids that are not mapped (message says how to add a
  //                      subordinate range)
  //   PermissionDenied - newuidmap/newgidmap failed (their own message) or the kernel refused
  //   others           - "sandbox: <step> [<object>]: <errno text>"
  // Thread-safe.
  absl::StatusOr<Result> Run(const Spec& spec) const;

  const IdMapping& id_mapping() const { return mapping_; }
  const LimitProbe& limits() const { return limits_; }
  const CapabilitySet& capabilities() const { return caps_; }
  size_t seccomp_instructions() const { return filter_.instructions.size(); }
  const NetworkHelper& network_helper() const { return network_; }
  // Helpers of finished runs still stopping (Run returns before its helper is reaped).
  const HelperReaper& helper_reaper() const { return *reaper_; }
  // The private directory runs mount their rootfs on (inside their own mount namespaces);
  // removed by the destructor.
  const std::string& staging_dir() const { return staging_; }

 private:
  Sandbox() = default;
  IdMapping mapping_;
  LimitProbe limits_;
  CapabilitySet caps_;
  SeccompProgram filter_;
  int last_cap_ = 40;
  std::string staging_;  // removed in the destructor
  std::string net_dir_;  // generated resolv.conf files, one per running kDefault run
  NetworkHelper network_;
  // Stops the runs' helpers after their inits exit; its destructor waits for them all.
  std::unique_ptr<HelperReaper> reaper_;
  base::UniqueFd init_fd_;  // sealed memfd with kiln-init, exec'd as every run's pid 1
};

}  // namespace kiln::sandbox

#endif  // KILN_SANDBOX_SANDBOX_H_
