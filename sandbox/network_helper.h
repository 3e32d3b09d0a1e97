// The network helper of NetworkMode::kDefault: slirp4netns, started by the engine (never by the
// sandboxed process) for each RUN's fresh network namespace, which it connects to the outside
// through user-mode networking with the host's loopback and DNS forwarding disabled:
//
//   slirp4netns --configure --mtu=65520 --disable-host-loopback --disable-dns --enable-sandbox
//               --enable-seccomp --ready-fd=3 --exit-fd=4 --netns-type=path /proc/self/fd/5 tap0
//
// The RUN sees `lo` and tap0 (10.0.2.100/24, default route via 10.0.2.2). The helper gets only
// fds 0-5 (stdin /dev/null, stdout+stderr a log memfd, the ready and exit pipes, the netns), its
// own session,
// and PDEATHSIG SIGKILL; it exits when the exit pipe's write end closes, which is when the
// HelperProcess is destroyed or the engine dies (kill -9 included). A helper that fails to start
// is reaped and its log is in the error. No fallback to another mode ever happens here.
//
// NetworkHelper is probed once (Sandbox::Create) and is immutable after: thread-safe.
#ifndef KILN_SANDBOX_NETWORK_HELPER_H_
#define KILN_SANDBOX_NETWORK_HELPER_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "base/unique_fd.h"

namespace kiln::sandbox {

struct NetworkOptions {
  // The slirp4netns binary: a path, or a name looked up in PATH. Empty: "slirp4netns".
  std::string slirp4netns;
  // Upstream resolvers written into a RUN's resolv.conf instead of the host's nameservers.
  std::vector<std::string> dns_servers;
  std::string etc_resolv = "/etc/resolv.conf";
  std::string resolved_upstream = "/run/systemd/resolve/resolv.conf";
  std::string tun_device = "/dev/net/tun";
  absl::Duration ready_timeout = absl::Seconds(10);
};

class HelperReaper;

// A running helper. The destructor closes the exit pipe (the helper starts to exit). Without a
// reaper it then waits up to a second for the helper to exit, SIGKILLs it after that and reaps
// it; with one it hands the helper over and returns at once (helper_reaper.h).
class HelperProcess {
 public:
  HelperProcess(pid_t pid, base::UniqueFd pidfd, base::UniqueFd exit_write, HelperReaper* reaper);
  ~HelperProcess();
  HelperProcess(const HelperProcess&) = delete;
  HelperProcess& operator=(const HelperProcess&) = delete;
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_;
  base::UniqueFd pidfd_;
  base::UniqueFd exit_write_;
  HelperReaper* reaper_;
};

class NetworkHelper {
 public:
  // Probes the binary (`--version`, and that it knows --disable-dns) and the TUN device. Never
  // fails: a problem is recorded and returned by Start().
  static NetworkHelper Probe(NetworkOptions options);

  // Starts the helper for the network namespace `netns_fd` (an open /proc/PID/ns/net; the
  // helper gets it as fd 5 and opens /proc/self/fd/5) and waits until it is ready. Errors:
  // FailedPrecondition (no usable helper or TUN device; names --network=none and --network=host),
  // Unavailable (the helper exited or timed out; its log is in the message). `reaper`, when given,
  // must outlive the HelperProcess; it then stops the helper in the background.
  absl::StatusOr<std::unique_ptr<HelperProcess>> Start(int netns_fd,
                                                       HelperReaper* reaper = nullptr) const;

  // The resolv.conf text for a RUN (resolv_conf.h). FailedPrecondition without a usable resolver.
  absl::StatusOr<std::string> ResolvConf() const;

  bool usable() const { return problem_.empty(); }
  const std::string& problem() const { return problem_; }
  // "slirp4netns 1.2.0 (/usr/bin/slirp4netns, libslirp 4.7.0)" or "" when not found.
  const std::string& description() const { return description_; }
  const std::string& binary() const { return binary_; }

 private:
  NetworkOptions options_;
  std::string binary_;
  std::string description_;
  std::string problem_;
};

}  // namespace kiln::sandbox

#endif  // KILN_SANDBOX_NETWORK_HELPER_H_
