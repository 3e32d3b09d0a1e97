#include "snapshotter/diff/fs_util.h"

#include <fcntl.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "base/fs.h"
#include "base/status.h"

namespace kiln::snapshotter::internal {

std::string FdPath(int dirfd, const std::string& name) {
  return "/proc/self/fd/" + std::to_string(dirfd) + "/" + name;
}

absl::StatusOr<base::UniqueFd> OpenDirAt(int dirfd, const std::string& name) {
  int fd = ::openat(dirfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return base::ErrnoError("open directory '" + name + "'");
  return base::UniqueFd(fd);
}

absl::StatusOr<std::vector<std::string>> ListDir(int dirfd, const std::string& what) {
  return base::ListDirNames(dirfd, /*sorted=*/true, what);
}

absl::StatusOr<struct stat> StatAt(int dirfd, const std::string& name, const std::string& what) {
  struct stat st {};
  if (::fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    return base::ErrnoError("stat '" + what + "'");
  }
  return st;
}

absl::StatusOr<std::string> ReadLinkAt(int dirfd, const std::string& name,
                                       const std::string& what) {
  std::string buf(256, '\0');
  for (;;) {
    ssize_t n = ::readlinkat(dirfd, name.c_str(), buf.data(), buf.size());
    if (n < 0) return base::ErrnoError("readlink '" + what + "'");
    if (static_cast<size_t>(n) < buf.size()) {
      buf.resize(static_cast<size_t>(n));
      return buf;
    }
    buf.resize(buf.size() * 2);
  }
}

absl::StatusOr<Xattrs> ListXattrsAt(int dirfd, const std::string& name, const std::string& what) {
  std::string path = FdPath(dirfd, name);
  Xattrs out;
  ssize_t n = ::llistxattr(path.c_str(), nullptr, 0);
  if (n < 0) {
    if (errno == ENOTSUP) return out;
    return base::ErrnoError("list xattrs of '" + what + "'");
  }
  if (n == 0) return out;
  std::string names(static_cast<size_t>(n) + 256, '\0');
  n = ::llistxattr(path.c_str(), names.data(), names.size());
  if (n < 0) return base::ErrnoError("list xattrs of '" + what + "'");
  names.resize(static_cast<size_t>(n));
  for (size_t pos = 0; pos < names.size();) {
    std::string key(names.c_str() + pos);
    pos += key.size() + 1;
    if (key.empty()) continue;
    std::string value;
    if (!GetXattrAt(dirfd, name, key.c_str(), &value)) {
      if (errno == ENODATA) continue;  // removed meanwhile
      return base::ErrnoError("read xattr '" + key + "' of '" + what + "'");
    }
    out.emplace_back(std::move(key), std::move(value));
  }
  std::sort(out.begin(), out.end());
  return out;
}

bool GetXattrAt(int dirfd, const std::string& name, const char* key, std::string* value) {
  std::string path = FdPath(dirfd, name);
  for (int attempt = 0; attempt < 4; ++attempt) {
    ssize_t n = ::lgetxattr(path.c_str(), key, nullptr, 0);
    if (n < 0) return false;
    value->assign(static_cast<size_t>(n), '\0');
    ssize_t m = ::lgetxattr(path.c_str(), key, value->data(), value->size());
    if (m >= 0) {
      value->resize(static_cast<size_t>(m));
      return true;
    }
    if (errno != ERANGE) return false;
  }
  return false;
}

absl::Status RemoveAt(int dirfd, const std::string& name, const std::string& what) {
  base::RemoveTreeOptions options;
  options.shown_as = what;
  return base::RemoveTreeAt(dirfd, name, options);
}

}  // namespace kiln::snapshotter::internal
