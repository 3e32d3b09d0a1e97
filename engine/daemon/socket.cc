#include "engine/daemon/socket.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "base/fs.h"
#include "base/status.h"

namespace kiln::engine::daemon {
namespace {

absl::StatusOr<sockaddr_un> UnixAddress(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof(addr.sun_path)) {
    return absl::InvalidArgumentError(absl::StrCat("socket path '", path, "': longer than ",
                                                   sizeof(addr.sun_path) - 1, " bytes"));
  }
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  return addr;
}

std::string Parent(const std::string& path) {
  size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

absl::Status PrepareDir(const std::string& dir, mode_t mode) {
  KILN_RETURN_IF_ERROR(base::MkdirAll(dir, mode));
  struct stat st;
  if (stat(dir.c_str(), &st) != 0) return base::ErrnoError(absl::StrCat("stat '", dir, "'"));
  if (st.st_uid != geteuid()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "prepare socket dir '", dir, "': owned by uid ", st.st_uid, ", not by us (uid ",
        geteuid(), ")"));
  }
  // A shared directory (sticky or world-writable, like /tmp) is not ours to re-mode: the
  // socket's own mode protects it there.
  if ((st.st_mode & (S_ISVTX | S_IWOTH)) != 0) return absl::OkStatus();
  if ((st.st_mode & 07777) != mode && chmod(dir.c_str(), mode) != 0) {
    return base::ErrnoError(absl::StrCat("chmod '", dir, "'"));
  }
  return absl::OkStatus();
}

// Removes `path` if it is a socket nobody listens on.
absl::Status RemoveStaleSocket(const std::string& path) {
  struct stat st;
  if (lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return absl::OkStatus();
    return base::ErrnoError(absl::StrCat("stat '", path, "'"));
  }
  if (!S_ISSOCK(st.st_mode)) {
    return absl::FailedPreconditionError(
        absl::StrCat("listen on '", path, "': the path exists and is not a socket"));
  }
  absl::StatusOr<base::UniqueFd> probe = ConnectUnixSocket(path);
  if (probe.ok()) {
    return absl::AlreadyExistsError(
        absl::StrCat("listen on '", path, "': a daemon is already listening there"));
  }
  if (unlink(path.c_str()) != 0 && errno != ENOENT) {
    return base::ErrnoError(absl::StrCat("remove stale socket '", path, "'"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<base::UniqueFd> ConnectUnixSocket(const std::string& path) {
  KILN_ASSIGN_OR_RETURN(sockaddr_un addr, UnixAddress(path));
  base::UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return base::ErrnoError("socket AF_UNIX");
  if (connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    return base::ErrnoError(absl::StrCat("connect '", path, "'"));
  }
  return fd;
}

absl::StatusOr<base::UniqueFd> ListenUnixSocket(const std::string& path,
                                                const ListenOptions& options) {
  KILN_ASSIGN_OR_RETURN(sockaddr_un addr, UnixAddress(path));
  KILN_RETURN_IF_ERROR(PrepareDir(Parent(path), options.dir_mode));
  KILN_RETURN_IF_ERROR(RemoveStaleSocket(path));
  base::UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd.valid()) return base::ErrnoError("socket AF_UNIX");
  if (bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    return base::ErrnoError(absl::StrCat("bind '", path, "'"));
  }
  if (chmod(path.c_str(), options.socket_mode) != 0) {
    absl::Status status = base::ErrnoError(absl::StrCat("chmod '", path, "'"));
    unlink(path.c_str());
    return status;
  }
  if (listen(fd.get(), 128) != 0) {
    absl::Status status = base::ErrnoError(absl::StrCat("listen '", path, "'"));
    unlink(path.c_str());
    return status;
  }
  return fd;
}

absl::StatusOr<base::UniqueFd> LockStateRoot(const std::string& root) {
  KILN_RETURN_IF_ERROR(base::MkdirAll(root, 0700));
  std::string path = root + "/kilnd.lock";
  base::UniqueFd fd(open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!fd.valid()) return base::ErrnoError(absl::StrCat("open '", path, "'"));
  if (flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno != EWOULDBLOCK) return base::ErrnoError(absl::StrCat("flock '", path, "'"));
    char buf[32] = {};
    ssize_t n = pread(fd.get(), buf, sizeof(buf) - 1, 0);
    std::string pid = n > 0 ? std::string(absl::StripAsciiWhitespace(absl::string_view(buf, n)))
                            : std::string("unknown");
    return absl::FailedPreconditionError(absl::StrCat(
        "lock '", path, "': another kilnd (pid ", pid, ") is using the state root '", root,
        "'"));
  }
  std::string pid = absl::StrCat(getpid(), "\n");
  if (ftruncate(fd.get(), 0) != 0 || pwrite(fd.get(), pid.data(), pid.size(), 0) < 0) {
    return base::ErrnoError(absl::StrCat("write pid to '", path, "'"));
  }
  return fd;
}

}  // namespace kiln::engine::daemon
