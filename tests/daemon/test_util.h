// Helpers for the daemon tests: run a process (optionally as another user via setpriv) with a
// timeout and capture its output; find the built binaries; read files.
#ifndef KILN_TESTS_DAEMON_TEST_UTIL_H_
#define KILN_TESTS_DAEMON_TEST_UTIL_H_

#include <fcntl.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

extern char** environ;

namespace kiln::testing {

struct ProcessResult {
  int exit_code = -1;   // -1 if killed by a signal
  int signal = 0;
  std::string out;
  std::string err;
};

inline std::string BuildDir() {
  const char* dir = std::getenv("KILN_BUILD_DIR");
  if (dir != nullptr && *dir != '\0') return dir;
#ifdef KILN_DEFAULT_BUILD_DIR
  return KILN_DEFAULT_BUILD_DIR;
#else
  return "";
#endif
}
inline std::string KilnctlPath() { return BuildDir() + "/tools/kilnctl/kilnctl"; }
inline std::string KilndPath() { return BuildDir() + "/tools/kilnd/kilnd"; }

inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

inline void WriteFile(const std::string& path, const std::string& content) {
  std::ofstream(path) << content;
}

// A started child process; killed (SIGKILL) and reaped on destruction unless waited for.
class Child {
 public:
  Child() = default;
  Child(Child&& o) noexcept { *this = std::move(o); }
  Child& operator=(Child&& o) noexcept {
    std::swap(pid_, o.pid_);
    std::swap(out_fd_, o.out_fd_);
    std::swap(err_fd_, o.err_fd_);
    return *this;
  }
  ~Child() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    if (out_fd_ >= 0) close(out_fd_);
    if (err_fd_ >= 0) close(err_fd_);
  }

  // argv[0] is a path. `env` entries "K=V" replace the environment if non-empty.
  static Child Start(const std::vector<std::string>& argv, const std::vector<std::string>& env = {}) {
    Child child;
    int out[2], err[2];
    if (pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0) return child;
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&actions, out[1], 1);
    posix_spawn_file_actions_adddup2(&actions, err[1], 2);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t none;
    sigemptyset(&none);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    std::vector<char*> envp;
    for (const std::string& e : env) envp.push_back(const_cast<char*>(e.c_str()));
    envp.push_back(nullptr);
    posix_spawnp(&child.pid_, args[0], &actions, &attr, args.data(),
                 env.empty() ? environ : envp.data());
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    close(out[1]);
    close(err[1]);
    child.out_fd_ = out[0];
    child.err_fd_ = err[0];
    return child;
  }

  pid_t pid() const { return pid_; }

  // Reads output until the process exits or `timeout`; on timeout kills it (exit_code -1).
  ProcessResult Wait(absl::Duration timeout = absl::Seconds(60)) {
    ProcessResult result;
    absl::Time deadline = absl::Now() + timeout;
    while (out_fd_ >= 0 || err_fd_ >= 0) {
      pollfd fds[2] = {{out_fd_, POLLIN, 0}, {err_fd_, POLLIN, 0}};
      int left = static_cast<int>(absl::ToInt64Milliseconds(deadline - absl::Now()));
      if (left <= 0) break;
      if (poll(fds, 2, left) <= 0) continue;
      for (int i = 0; i < 2; ++i) {
        if (fds[i].fd < 0 || fds[i].revents == 0) continue;
        char buf[4096];
        ssize_t n = read(fds[i].fd, buf, sizeof(buf));
        if (n > 0) {
          (i == 0 ? result.out : result.err).append(buf, static_cast<size_t>(n));
        } else {
          close(fds[i].fd);
          (i == 0 ? out_fd_ : err_fd_) = -1;
        }
      }
    }
    if (out_fd_ >= 0 || err_fd_ >= 0) kill(pid_, SIGKILL);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
    if (WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
    if (WIFSIGNALED(status)) result.signal = WTERMSIG(status);
    return result;
  }

 private:
  pid_t pid_ = -1;
  int out_fd_ = -1;
  int err_fd_ = -1;
};

inline ProcessResult Run(const std::vector<std::string>& argv,
                         const std::vector<std::string>& env = {},
                         absl::Duration timeout = absl::Seconds(60)) {
  return Child::Start(argv, env).Wait(timeout);
}

struct TestUser {
  uid_t uid = 0;
  gid_t gid = 0;
  bool found = false;
};

inline TestUser LookupUser(const char* name) {
  TestUser user;
  if (struct passwd* pw = getpwnam(name)) {
    user.uid = pw->pw_uid;
    user.gid = pw->pw_gid;
    user.found = true;
  }
  return user;
}

// argv prefix that runs a command as `user` with a clean environment plus `env`.
inline std::vector<std::string> AsUser(const TestUser& user, const std::vector<std::string>& env,
                                       const std::vector<std::string>& argv) {
  std::vector<std::string> out = {"setpriv", absl::StrCat("--reuid=", user.uid),
                                  absl::StrCat("--regid=", user.gid), "--init-groups",
                                  "--inh-caps=-all", "env", "-i",
                                  "PATH=/usr/local/bin:/usr/bin:/bin"};
  for (const char* name : {"ASAN_OPTIONS", "LSAN_OPTIONS", "UBSAN_OPTIONS"}) {
    if (const char* value = std::getenv(name)) out.push_back(absl::StrCat(name, "=", value));
  }
  out.insert(out.end(), env.begin(), env.end());
  out.insert(out.end(), argv.begin(), argv.end());
  return out;
}

}  // namespace kiln::testing

#endif  // KILN_TESTS_DAEMON_TEST_UTIL_H_
