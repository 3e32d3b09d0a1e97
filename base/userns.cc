#include "base/userns.h"

#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "base/status.h"
#include "base/unique_fd.h"

namespace kiln::base {
namespace {

absl::Status WriteFile(const std::string& path, const std::string& content) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd) return ErrnoError(absl::StrCat("open '", path, "'"));
  ssize_t n = ::write(fd.get(), content.data(), content.size());
  if (n != static_cast<ssize_t>(content.size())) {
    return ErrnoError(absl::StrCat("write '", content, "' to '", path, "'"));
  }
  return absl::OkStatus();
}

int CountThreads() {
  DIR* d = ::opendir("/proc/self/task");
  if (d == nullptr) return -1;
  int n = 0;
  while (struct dirent* e = ::readdir(d)) {
    if (e->d_name[0] != '.') ++n;
  }
  ::closedir(d);
  return n;
}

std::string UserName(uid_t uid) {
  struct passwd pw;
  struct passwd* out = nullptr;
  std::vector<char> buf(16384);
  if (::getpwuid_r(uid, &pw, buf.data(), buf.size(), &out) == 0 && out != nullptr) {
    return out->pw_name;
  }
  return std::to_string(uid);
}

std::string FindTool(const char* name) {
  for (const char* dir : {"/usr/bin/", "/usr/sbin/", "/bin/", "/sbin/", "/usr/local/bin/"}) {
    std::string p = std::string(dir) + name;
    if (::access(p.c_str(), X_OK) == 0) return p;
  }
  return "";
}

// Runs argv, capturing stderr+stdout. Returns "" on success, else a description.
// Only called in a forked, single-threaded child.
std::string RunTool(const std::vector<std::string>& argv) {
  int pipefd[2];
  if (::pipe2(pipefd, O_CLOEXEC) != 0) return "pipe failed";
  pid_t pid = ::fork();
  if (pid < 0) return "fork failed";
  if (pid == 0) {
    ::dup2(pipefd[1], 1);
    ::dup2(pipefd[1], 2);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execv(args[0], args.data());
    std::fprintf(stderr, "exec %s: %s", args[0], std::strerror(errno));
    ::_exit(127);
  }
  ::close(pipefd[1]);
  std::string output;
  char buf[512];
  ssize_t n;
  while ((n = ::read(pipefd[0], buf, sizeof buf)) > 0) output.append(buf, static_cast<size_t>(n));
  ::close(pipefd[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return "";
  std::string cmd;
  for (const auto& a : argv) absl::StrAppend(&cmd, cmd.empty() ? "" : " ", a);
  while (!output.empty() && (output.back() == '\n' || output.back() == ' ')) output.pop_back();
  return absl::StrCat("'", cmd, "' failed (",
                      WIFEXITED(status) ? absl::StrCat("exit ", WEXITSTATUS(status))
                                        : absl::StrCat("signal ", WTERMSIG(status)),
                      "): ", output.empty() ? "no output" : output);
}

// Maps the parent's new user namespace from outside with newuidmap/newgidmap. The child
// waits until the parent has unshared, runs both tools, and writes "" or an error back.
absl::Status MapWithHelpers(uid_t uid, gid_t gid, const IdRange& subuid, const IdRange& subgid,
                            const std::string& newuidmap, const std::string& newgidmap) {
  int go[2], result[2];
  if (::pipe2(go, O_CLOEXEC) != 0 || ::pipe2(result, O_CLOEXEC) != 0) {
    return ErrnoError("pipe for newuidmap helper");
  }
  pid_t parent = ::getpid();
  pid_t child = ::fork();
  if (child < 0) return ErrnoError("fork newuidmap helper");
  if (child == 0) {
    ::close(go[1]);
    ::close(result[0]);
    char c;
    std::string err;
    if (::read(go[0], &c, 1) != 1) {
      err = "parent did not signal";
    } else {
      std::string p = std::to_string(parent);
      err = RunTool({newuidmap, p, "0", std::to_string(uid), "1", "1",
                     std::to_string(subuid.start), std::to_string(subuid.count)});
      if (err.empty()) {
        err = RunTool({newgidmap, p, "0", std::to_string(gid), "1", "1",
                       std::to_string(subgid.start), std::to_string(subgid.count)});
      }
    }
    if (!err.empty()) (void)!::write(result[1], err.data(), err.size());
    ::_exit(err.empty() ? 0 : 1);
  }
  ::close(go[0]);
  ::close(result[1]);
  UniqueFd go_w(go[1]), result_r(result[0]);
  absl::Status unshare_status;
  if (::unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0) unshare_status = ErrnoError("unshare user+mount namespace");
  char c = unshare_status.ok() ? 'g' : 'x';
  (void)!::write(go_w.get(), &c, 1);
  go_w.reset();
  std::string err;
  char buf[1024];
  ssize_t n;
  while ((n = ::read(result_r.get(), buf, sizeof buf)) > 0) err.append(buf, static_cast<size_t>(n));
  int status = 0;
  ::waitpid(child, &status, 0);
  if (!unshare_status.ok()) return unshare_status;
  if (!err.empty()) return absl::PermissionDeniedError(absl::StrCat("map user namespace: ", err));
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<IdRange> LookupSubordinateRange(const std::string& file, const std::string& user,
                                               uid_t uid) {
  std::ifstream in(file);
  if (!in) return absl::NotFoundError(absl::StrCat("read '", file, "': cannot open"));
  std::string line;
  std::string uid_str = std::to_string(uid);
  while (std::getline(in, line)) {
    std::vector<std::string> parts = absl::StrSplit(line, ':');
    if (parts.size() != 3) continue;
    if (parts[0] != user && parts[0] != uid_str) continue;
    uint64_t start = 0, count = 0;
    if (!absl::SimpleAtoi(parts[1], &start) || !absl::SimpleAtoi(parts[2], &count)) continue;
    if (count == 0) continue;
    return IdRange{static_cast<uid_t>(start), static_cast<uint32_t>(count)};
  }
  return absl::NotFoundError(absl::StrCat("no range for user '", user, "' in ", file));
}

bool InUserNamespace() {
  std::ifstream in("/proc/self/uid_map");
  uint64_t inside = 0, outside = 0, count = 0;
  if (!(in >> inside >> outside >> count)) return false;
  std::string rest;
  in >> rest;
  return !(inside == 0 && outside == 0 && count == 4294967295ull && rest.empty());
}

uint64_t MappedUidCount() {
  std::ifstream in("/proc/self/uid_map");
  uint64_t inside = 0, outside = 0, count = 0, total = 0;
  while (in >> inside >> outside >> count) total += count;
  return total;
}

absl::StatusOr<UserNamespaceInfo> EnterRootlessNamespace() {
  UserNamespaceInfo info;
  info.host_uid = ::getuid();
  info.host_gid = ::getgid();
  if (::geteuid() == 0) {
    info.full_mapping = true;
    info.note = "running as root; no namespace needed";
    return info;
  }
  int threads = CountThreads();
  if (threads != 1) {
    return absl::FailedPreconditionError(absl::StrCat(
        "enter rootless namespace: the process has ", threads,
        " threads; call EnterRootlessNamespace before starting any thread"));
  }
  std::string user = UserName(info.host_uid);
  absl::StatusOr<IdRange> subuid = LookupSubordinateRange("/etc/subuid", user, info.host_uid);
  absl::StatusOr<IdRange> subgid = LookupSubordinateRange("/etc/subgid", user, info.host_uid);
  std::string newuidmap = FindTool("newuidmap");
  std::string newgidmap = FindTool("newgidmap");
  bool want_full = subuid.ok() && subgid.ok() && !newuidmap.empty() && !newgidmap.empty();

  if (want_full) {
    KILN_RETURN_IF_ERROR(
        MapWithHelpers(info.host_uid, info.host_gid, *subuid, *subgid, newuidmap, newgidmap));
    info.full_mapping = true;
    info.subuid = *subuid;
    info.subgid = *subgid;
  } else {
    if (!subuid.ok()) {
      info.note = std::string(subuid.status().message());
    } else if (!subgid.ok()) {
      info.note = std::string(subgid.status().message());
    } else {
      info.note = "newuidmap/newgidmap not installed (Debian package uidmap)";
    }
    if (::unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0) {
      return ErrnoError("enter rootless namespace: unshare user+mount namespace");
    }
    KILN_RETURN_IF_ERROR(WriteFile("/proc/self/setgroups", "deny"));
    KILN_RETURN_IF_ERROR(WriteFile("/proc/self/uid_map", absl::StrCat("0 ", info.host_uid, " 1\n")));
    KILN_RETURN_IF_ERROR(WriteFile("/proc/self/gid_map", absl::StrCat("0 ", info.host_gid, " 1\n")));
  }
  info.entered = true;
  if (::mount("none", "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
    return ErrnoError("enter rootless namespace: make / private");
  }
  return info;
}

}  // namespace kiln::base
