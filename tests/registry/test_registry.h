// TestRegistry: Debian's real docker-registry (distribution 2.8) started by a test on
// loopback, with its own config (127.0.0.1, port chosen by the kernel and read back from the
// log), storage in a temp dir, and optional TLS (a CA and a server cert made with openssl),
// htpasswd Basic auth, or Bearer tokens (`silly` auth plus token_server.py). Helper processes
// (token server, fault proxy) are Python scripts next to this file. Every process is stopped by
// its PID (SIGTERM, then SIGKILL) when the object dies, so a failing test leaves nothing behind.
// Not thread-safe.
#ifndef KILN_TESTS_REGISTRY_TEST_REGISTRY_H_
#define KILN_TESTS_REGISTRY_TEST_REGISTRY_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "base/temp_dir.h"

namespace kiln::tests {

struct RegistryConfig {
  bool tls = false;
  std::string user;  // with password: htpasswd Basic auth
  std::string password;
  bool token_auth = false;  // silly auth with a Bearer realm served by token_server.py
};

// A child process whose stdout's first line is a port number (the Python helpers).
class HelperProcess {
 public:
  // Runs `argv`; waits for the port line. Unavailable with the output on failure.
  static absl::StatusOr<std::unique_ptr<HelperProcess>> Start(const std::vector<std::string>& argv);
  ~HelperProcess();
  int port() const { return port_; }
  void Stop();

 private:
  pid_t pid_ = -1;
  int port_ = 0;
};

class TestRegistry {
 public:
  static absl::StatusOr<std::unique_ptr<TestRegistry>> Start(const RegistryConfig& config = {});
  ~TestRegistry();

  // "127.0.0.1:PORT".
  std::string host() const;
  int port() const { return port_; }
  // The CA certificate that signed the server's certificate (tls only).
  std::string ca_file() const { return dir_.path() + "/ca.pem"; }
  // A directory holding the CA as ca.crt (skopeo's --cert-dir).
  std::string cert_dir() const { return dir_.path() + "/certs"; }
  // JSON lines of the token requests (token_auth only).
  std::string token_log() const { return dir_.path() + "/token.log"; }
  const std::string& dir() const { return dir_.path(); }
  // Stops the registry (the data dir stays); idempotent.
  void Stop();

  // A fault proxy (fault_proxy.py) in front of this registry with `modes`; its log in
  // dir()/proxy-<n>.log. `upstream_auth` ("user:password") is what the proxy itself sends
  // upstream for redirected requests.
  absl::StatusOr<std::unique_ptr<HelperProcess>> StartProxy(const std::string& modes,
                                                            std::string* log_path,
                                                            const std::string& upstream_auth = "");

 private:
  explicit TestRegistry(base::TempDir dir) : dir_(std::move(dir)) {}
  absl::Status WriteConfig(const RegistryConfig& config, const std::string& realm);
  absl::Status Launch();

  base::TempDir dir_;
  pid_t pid_ = -1;
  int port_ = 0;
  int proxies_ = 0;
  std::unique_ptr<HelperProcess> token_server_;
};

// The directory holding the test scripts (tests/registry in the source tree).
std::string ScriptDir();

// Runs a command, returns its exit code; output (stdout+stderr) into *output if given.
int Run(const std::vector<std::string>& argv, std::string* output = nullptr);

}  // namespace kiln::tests

#endif  // KILN_TESTS_REGISTRY_TEST_REGISTRY_H_
