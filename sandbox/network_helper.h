// The network helper of NetworkMode::kDefault: slirp4netns, started by the engine (never by the
// sandboxed process) for each RUN's fresh network namespace, which it connects to the outside
// through user-mode networking with the host's loopback and DNS forwarding disabled:
//
//   slirp4netns --configure --mtu=65520 --disable-host-loopback --disable-dns --enable-sandbox
//               --enable-seccomp --ready-fd=3 --exit-fd=4 --netns-type=path /proc/self/fd/5 tap0
//
// The RUN sees `lo` and tap0 (10.0.2.100/24, default route via 10.0.2.2). The helper gets only
// fds 0-5 (stdin /dev/null, stdout+stderr a log memfd, the ready and exit pipes, the netns), its
// own session and PDEATHSIG SIGKILL; it exits when the exit pipe's write end closes, which is
// when the HelperProcess is destroyed or the engine dies (kill -9 included). A helper that fails
// to start is reaped and its log is in the error.
//
// Second choice, only when slirp4netns is unusable: pasta, if it passes a self-test on a fresh
// user + network namespace at probe time (Debian 12's pasta cannot open a namespace from inside
// a user namespace and is refused), run in the foreground with every port forwarding off and no
// gateway mapping (PastaArgs); ready when tap0 has 10.0.2.100, stopped with SIGTERM. No helper
// usable: Start() fails with an error that names --network=none and --network=host; there is
// never a fallback to the host's network.
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
  // The second choice, used only when slirp4netns is unusable and pasta passes a self-test
  // (Probe): a path or a name looked up in PATH. Empty: "pasta"; "none": never.
  std::string pasta;
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
  // No `exit_write` (pasta has no exit pipe): the destructor sends SIGTERM instead.
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
  // When slirp4netns is unusable, pasta is probed and kept only if its self-test passes.
  static NetworkHelper Probe(NetworkOptions options);

  // Starts this helper on a fresh user + network namespace (a parked process made for it), checks
  // that it becomes ready (tap0 configured) and stops it. ~10-50 ms. Never sends a packet.
  absl::Status SelfTest() const;

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
  // "slirp4netns" or "pasta".
  const char* kind_name() const { return kind_ == HelperKind::kPasta ? "pasta" : "slirp4netns"; }
  // The probe's self-test of pasta ("ok" or its error; "" when none ran) and a note on why the
  // second choice is in use.
  const std::string& self_test() const { return self_test_; }
  const std::string& self_test_note() const { return self_test_note_; }
  // pasta's arguments for the namespace at `netns_path` (every port forwarding off, no gateway
  // mapping: the RUN never reaches the host's loopback).
  static std::vector<std::string> PastaArgs(const std::string& binary,
                                            const std::string& netns_path);

 private:
  enum class HelperKind { kSlirp4netns, kPasta };
  static void ProbeSlirp4netns(NetworkHelper& h);
  static void ProbePasta(NetworkHelper& h);
  absl::StatusOr<std::unique_ptr<HelperProcess>> StartPasta(int netns_fd,
                                                            HelperReaper* reaper) const;

  HelperKind kind_ = HelperKind::kSlirp4netns;
  std::string self_test_;
  std::string self_test_note_;
  NetworkOptions options_;
  std::string binary_;
  std::string description_;
  std::string problem_;
};

}  // namespace kiln::sandbox

#endif  // KILN_SANDBOX_NETWORK_HELPER_H_
