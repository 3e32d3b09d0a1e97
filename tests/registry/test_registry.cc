#include "tests/registry/test_registry.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "base/status.h"
#include "base/unique_fd.h"

extern char** environ;

namespace kiln::tests {
namespace {

std::vector<char*> Argv(std::vector<std::string>& args) {
  std::vector<char*> out;
  for (std::string& a : args) out.push_back(a.data());
  out.push_back(nullptr);
  return out;
}

// Spawns argv with stdout and stderr to `out_fd`.
absl::StatusOr<pid_t> Spawn(std::vector<std::string> args, int out_fd) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, out_fd, 1);
  posix_spawn_file_actions_adddup2(&actions, out_fd, 2);
  pid_t pid = -1;
  std::vector<char*> argv = Argv(args);
  int rc = posix_spawnp(&pid, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) return base::ErrnoError(rc, absl::StrCat("spawn '", args[0], "'"));
  return pid;
}

void Kill(pid_t& pid) {
  if (pid <= 0) return;
  ::kill(pid, SIGTERM);
  for (int i = 0; i < 50; ++i) {
    if (::waitpid(pid, nullptr, WNOHANG) == pid) {
      pid = -1;
      return;
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
  ::kill(pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
  pid = -1;
}

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

absl::Status MakeCertificates(const std::string& d) {
  std::string out;
  if (Run({"openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
           "/CN=kiln-test-ca", "-keyout", d + "/ca-key.pem", "-out", d + "/ca.pem"},
          &out) != 0 ||
      Run({"openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout",
           d + "/key.pem", "-out", d + "/server.csr"},
          &out) != 0) {
    return absl::UnavailableError("openssl req failed: " + out);
  }
  std::ofstream(d + "/san.ext") << "subjectAltName=IP:127.0.0.1,DNS:localhost\n";
  if (::mkdir((d + "/certs").c_str(), 0755) != 0) return base::ErrnoError("mkdir certs");
  if (Run({"openssl", "x509", "-req", "-in", d + "/server.csr", "-CA", d + "/ca.pem", "-CAkey",
           d + "/ca-key.pem", "-CAcreateserial", "-days", "2", "-extfile", d + "/san.ext", "-out",
           d + "/cert.pem"},
          &out) != 0) {
    return absl::UnavailableError("openssl x509 failed: " + out);
  }
  // skopeo's --cert-dir takes CAs as *.crt.
  if (Run({"cp", d + "/ca.pem", d + "/certs/ca.crt"}, &out) != 0) {
    return absl::UnavailableError("cp ca.pem: " + out);
  }
  return absl::OkStatus();
}

}  // namespace

std::string ScriptDir() { return KILN_TEST_SCRIPT_DIR; }

int Run(const std::vector<std::string>& argv, std::string* output) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return -1;
  base::UniqueFd r(fds[0]), w(fds[1]);
  absl::StatusOr<pid_t> pid = Spawn(argv, w.get());
  w.reset();
  if (!pid.ok()) return -1;
  std::string out;
  char buf[4096];
  for (ssize_t n; (n = ::read(r.get(), buf, sizeof(buf))) > 0;) {
    out.append(buf, static_cast<size_t>(n));
  }
  int status = 0;
  ::waitpid(*pid, &status, 0);
  if (output != nullptr) *output = out;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

absl::StatusOr<std::unique_ptr<HelperProcess>> HelperProcess::Start(
    const std::vector<std::string>& argv) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return base::ErrnoError("pipe");
  base::UniqueFd r(fds[0]), w(fds[1]);
  auto helper = std::unique_ptr<HelperProcess>(new HelperProcess());
  KILN_ASSIGN_OR_RETURN(helper->pid_, Spawn(argv, w.get()));
  w.reset();
  std::string line;
  char c;
  while (::read(r.get(), &c, 1) == 1 && c != '\n') line.push_back(c);
  if (!absl::SimpleAtoi(line, &helper->port_) || helper->port_ <= 0) {
    return absl::UnavailableError(
        absl::StrCat("start '", argv[0], "': no port line, got '", line, "'"));
  }
  return helper;
}

HelperProcess::~HelperProcess() { Stop(); }
void HelperProcess::Stop() { Kill(pid_); }

absl::Status TestRegistry::WriteConfig(const RegistryConfig& config, const std::string& realm) {
  const std::string& d = dir_.path();
  std::string yml =
      absl::StrCat("version: 0.1\nlog: {level: info, accesslog: {disabled: true}}\n", "storage:\n",
                   "  filesystem: {rootdirectory: ", d, "/data}\n", "  delete: {enabled: true}\n",
                   "  maintenance: {uploadpurging: {enabled: false}}\n",
                   "http:\n  addr: 127.0.0.1:", port_, "\n  secret: kiln-test\n");
  if (config.tls) {
    absl::StrAppend(&yml, "  tls: {certificate: ", d, "/cert.pem, key: ", d, "/key.pem}\n");
  }
  if (!config.user.empty()) {
    std::string line;
    if (Run({"htpasswd", "-nbB", config.user, config.password}, &line) != 0) {
      return absl::UnavailableError("htpasswd failed (apache2-utils): " + line);
    }
    std::ofstream(d + "/htpasswd") << line.substr(0, line.find('\n')) << "\n";
    absl::StrAppend(&yml, "auth:\n  htpasswd: {realm: kiln-test, path: ", d, "/htpasswd}\n");
  } else if (!realm.empty()) {
    absl::StrAppend(&yml, "auth:\n  silly: {realm: \"", realm, "\", service: kiln-test}\n");
  }
  std::ofstream(d + "/config.yml") << yml;
  return absl::OkStatus();
}

absl::Status TestRegistry::Launch() {
  std::string log = dir_.path() + "/registry.log";
  base::UniqueFd fd(::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644));
  if (fd.get() < 0) return base::ErrnoError("open registry log");
  KILN_ASSIGN_OR_RETURN(pid_,
                        Spawn({"docker-registry", "serve", dir_.path() + "/config.yml"}, fd.get()));
  std::regex listening("listening on 127\\.0\\.0\\.1:([0-9]+)");
  for (int i = 0; i < 500; ++i) {
    std::string text = Slurp(log);
    std::smatch m;
    if (std::regex_search(text, m, listening)) {
      port_ = std::stoi(m[1].str());
      return absl::OkStatus();
    }
    if (::waitpid(pid_, nullptr, WNOHANG) == pid_) {
      pid_ = -1;
      return absl::UnavailableError("docker-registry exited: " + text);
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
  return absl::DeadlineExceededError("docker-registry did not start: " + Slurp(log));
}

absl::StatusOr<std::unique_ptr<TestRegistry>> TestRegistry::Start(const RegistryConfig& config) {
  KILN_ASSIGN_OR_RETURN(base::TempDir dir, base::TempDir::Create("kiln-registry-"));
  auto reg = std::unique_ptr<TestRegistry>(new TestRegistry(std::move(dir)));
  std::string realm;
  if (config.token_auth) {
    KILN_ASSIGN_OR_RETURN(
        reg->token_server_,
        HelperProcess::Start(
            {"/usr/bin/python3", ScriptDir() + "/token_server.py", reg->token_log()}));
    realm = absl::StrCat("http://127.0.0.1:", reg->token_server_->port(), "/token");
  }
  if (config.tls) KILN_RETURN_IF_ERROR(MakeCertificates(reg->dir()));
  KILN_RETURN_IF_ERROR(reg->WriteConfig(config, realm));
  KILN_RETURN_IF_ERROR(reg->Launch());
  // Rewrite the config with the port the kernel chose, so a restart keeps it.
  KILN_RETURN_IF_ERROR(reg->WriteConfig(config, realm));
  return reg;
}

TestRegistry::~TestRegistry() { Stop(); }

void TestRegistry::Stop() { Kill(pid_); }

std::string TestRegistry::host() const { return absl::StrCat("127.0.0.1:", port_); }

absl::StatusOr<std::unique_ptr<HelperProcess>> TestRegistry::StartProxy(
    const std::string& modes, std::string* log_path, const std::string& upstream_auth) {
  *log_path = absl::StrCat(dir_.path(), "/proxy-", ++proxies_, ".log");
  return HelperProcess::Start({"/usr/bin/python3", ScriptDir() + "/fault_proxy.py",
                               std::to_string(port_), *log_path, modes, upstream_auth});
}

}  // namespace kiln::tests
