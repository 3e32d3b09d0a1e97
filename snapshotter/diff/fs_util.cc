#include "snapshotter/diff/fs_util.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

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
  int dup = ::openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dup < 0) return base::ErrnoError("open directory '" + what + "'");
  DIR* d = ::fdopendir(dup);
  if (d == nullptr) {
    int err = errno;
    ::close(dup);
    return base::ErrnoError(err, "list directory '" + what + "'");
  }
  std::vector<std::string> names;
  errno = 0;
  while (struct dirent* ent = ::readdir(d)) {
    std::string n = ent->d_name;
    if (n != "." && n != "..") names.push_back(std::move(n));
    errno = 0;
  }
  int err = errno;
  ::closedir(d);
  if (err != 0) return base::ErrnoError(err, "list directory '" + what + "'");
  std::sort(names.begin(), names.end());
  return names;
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
  if (::unlinkat(dirfd, name.c_str(), 0) == 0 || errno == ENOENT) return absl::OkStatus();
  if (errno != EISDIR) return base::ErrnoError("remove '" + what + "'");
  {
    auto sub = OpenDirAt(dirfd, name);
    if (!sub.ok()) return base::Annotate(sub.status(), "remove '" + what + "'");
    KILN_ASSIGN_OR_RETURN(std::vector<std::string> names, ListDir(sub->get(), what));
    for (const std::string& n : names) {
      KILN_RETURN_IF_ERROR(RemoveAt(sub->get(), n, what + "/" + n));
    }
  }
  if (::unlinkat(dirfd, name.c_str(), AT_REMOVEDIR) != 0 && errno != ENOENT) {
    return base::ErrnoError("remove directory '" + what + "'");
  }
  return absl::OkStatus();
}

}  // namespace kiln::snapshotter::internal
