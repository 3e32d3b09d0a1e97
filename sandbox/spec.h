// Spec and Result: what one sandboxed process run is given and what it returns.
//
// A Spec is a plain value (copyable, no kernel resources). Sandbox::Run() reads it and never
// keeps references to it after returning, except that the output callbacks are invoked on the
// calling thread while Run() is in progress.
#ifndef KILN_SANDBOX_SPEC_H_
#define KILN_SANDBOX_SPEC_H_

#include <sys/resource.h>

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/time/time.h"
#include "base/mount.h"
#include "sandbox/cancel.h"

namespace kiln::sandbox {

enum class NetworkMode {
  kNone,     // a new network namespace with only `lo`, which is up
  kHost,     // the caller's network namespace
  kDefault,  // a new network namespace with `lo` and tap0, connected to the outside by the
             // network helper (network_helper.h), never to the host's loopback
};

// A mount at an absolute path inside the container. `target` is resolved inside the rootfs
// (symlinks cannot lead out of it) and created (as a directory, or as an empty file when the
// source of a bind mount is a file) if missing.
struct MountPoint {
  base::Mount mount;
  std::string target;
};

struct Rlimit {
  int resource = 0;  // RLIMIT_*
  rlim_t soft = 0;
  rlim_t hard = 0;
};

// Receives raw output bytes as they arrive (not line-buffered). Called on Run()'s thread.
using OutputCallback = std::function<void(std::string_view)>;

struct Spec {
  std::vector<std::string> argv;  // argv[0] without '/' is looked up in PATH from `env`
  std::vector<std::string> env;   // "KEY=value"; passed as is
  std::string cwd = "/";          // absolute; resolved inside the rootfs, created if missing
  // "" (root), "name", "uid", "uid:gid", "name:group", "uid:group", "name:gid". Names come
  // from the rootfs's /etc/passwd and /etc/group; supplementary groups from /etc/group.
  std::string user;

  // Mounted in order at the container's root (later ones stack on top). Overlay mounts get
  // "userxattr" added: they are mounted inside the run's user namespace.
  std::vector<base::Mount> rootfs;
  std::vector<MountPoint> mounts;  // after /proc, /dev, /sys; in order

  NetworkMode network = NetworkMode::kNone;
  std::string hostname = "kiln";
  // Host files bind-mounted read-only at /etc/resolv.conf and /etc/hosts. Empty: the host's
  // own /etc/resolv.conf and /etc/hosts (skipped if the host has none); for kDefault, a
  // resolv.conf generated from the host's with no local nameserver (resolv_conf.h).
  std::string resolv_conf;
  std::string hosts;

  std::vector<Rlimit> rlimits;
  // Enforced by the limit layer in force (cgroup pids.max/memory.max, or RLIMIT_NPROC and
  // RLIMIT_AS as a fallback). 0 = no limit.
  int64_t pids_max = 0;
  int64_t memory_max_bytes = 0;

  absl::Duration timeout = absl::InfiniteDuration();
  absl::Duration kill_grace = absl::Seconds(10);  // SIGTERM -> SIGKILL on timeout/cancel
  CancelHandle* cancel = nullptr;                 // not owned; may be null

  OutputCallback on_stdout;  // null: output discarded
  OutputCallback on_stderr;
};

struct ResourceUsage {
  absl::Duration user_time;
  absl::Duration system_time;
  int64_t max_rss_kib = 0;
};

struct Result {
  int exit_code = -1;  // valid when signal == 0
  int signal = 0;      // the signal that ended the process, or 0
  bool timed_out = false;
  bool cancelled = false;
  ResourceUsage usage;  // of the process and every descendant it waited for
  absl::Duration wall_time;
};

}  // namespace kiln::sandbox

#endif  // KILN_SANDBOX_SPEC_H_
