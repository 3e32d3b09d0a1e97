#include "snapshotter/tree_copy.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "base/fs.h"
#include "base/status.h"

namespace kiln::snapshotter::internal {
namespace {

constexpr int kMaxDepth = 4096;

using InodeKey = std::pair<dev_t, ino_t>;

std::string Join(const std::string& rel, std::string_view name) {
  return rel.empty() ? std::string(name) : absl::StrCat(rel, "/", base::AsAbsl(name));
}

absl::Status Err(std::string_view op, const std::string& rel) {
  return base::ErrnoError(absl::StrCat(base::AsAbsl(op), " '", rel.empty() ? "." : rel, "'"));
}

absl::StatusOr<std::vector<std::string>> ListDir(int dir, const std::string& rel) {
  return base::ListDirNames(dir, /*sorted=*/false, rel.empty() ? "." : rel);
}

bool IsOverlayXattr(std::string_view name) {
  return absl::StartsWith(base::AsAbsl(name), "trusted.overlay.") ||
         absl::StartsWith(base::AsAbsl(name), "user.overlay.");
}

bool IsOpaque(int fd) {
  char v[4];
  for (const char* name : {"trusted.overlay.opaque", "user.overlay.opaque"}) {
    ssize_t n = ::fgetxattr(fd, name, v, sizeof v);
    if (n == 1 && v[0] == 'y') return true;
  }
  return false;
}

// Copies extended attributes from fd to fd. Attributes in namespaces the process may not
// write (trusted./security. without privilege) are left out.
absl::Status CopyXattrs(int src, int dst, bool strip_overlay, const std::string& rel) {
  std::vector<char> names(1024);
  ssize_t n;
  while ((n = ::flistxattr(src, names.data(), names.size())) < 0 && errno == ERANGE) {
    names.resize(names.size() * 4);
  }
  if (n < 0) {
    if (errno == ENOTSUP) return absl::OkStatus();
    return Err("list xattrs of", rel);
  }
  std::vector<char> value(4096);
  for (ssize_t off = 0; off < n;) {
    std::string name(names.data() + off);
    off += static_cast<ssize_t>(name.size()) + 1;
    if (strip_overlay && IsOverlayXattr(name)) continue;
    ssize_t len;
    while ((len = ::fgetxattr(src, name.c_str(), value.data(), value.size())) < 0 &&
           errno == ERANGE) {
      value.resize(value.size() * 4);
    }
    if (len < 0) {
      if (errno == ENODATA) continue;
      return Err(absl::StrCat("get xattr ", name, " of"), rel);
    }
    if (::fsetxattr(dst, name.c_str(), value.data(), static_cast<size_t>(len), 0) != 0) {
      bool privileged_ns = absl::StartsWith(name, "trusted.") || absl::StartsWith(name, "security.");
      if (privileged_ns && (errno == EPERM || errno == ENOTSUP)) continue;
      return Err(absl::StrCat("set xattr ", name, " on"), rel);
    }
  }
  return absl::OkStatus();
}

// Ownership, mode, xattrs and times of `st` onto an open fd (regular file or directory).
absl::Status ApplyMetadata(int src, int dst, const struct stat& st, bool strip_overlay,
                           const std::string& rel) {
  KILN_RETURN_IF_ERROR(CopyXattrs(src, dst, strip_overlay, rel));
  if (::fchown(dst, st.st_uid, st.st_gid) != 0) return Err("chown", rel);
  if (::fchmod(dst, st.st_mode & 07777) != 0) return Err("chmod", rel);
  struct timespec times[2] = {st.st_atim, st.st_mtim};
  if (::futimens(dst, times) != 0) return Err("set times of", rel);
  return absl::OkStatus();
}

absl::Status CopyData(int src, int dst, const std::string& rel) {
  if (::ioctl(dst, FICLONE, src) == 0) return absl::OkStatus();
  bool fallback = false;
  while (!fallback) {
    ssize_t n = ::copy_file_range(src, nullptr, dst, nullptr, size_t{1} << 30, 0);
    if (n == 0) return absl::OkStatus();
    if (n < 0) {
      if (errno == EXDEV || errno == ENOSYS || errno == EINVAL || errno == EOPNOTSUPP) {
        fallback = true;
      } else if (errno != EINTR) {
        return Err("copy data of", rel);
      }
    }
  }
  std::vector<char> buf(size_t{1} << 17);
  for (;;) {
    ssize_t n = ::read(src, buf.data(), buf.size());
    if (n == 0) return absl::OkStatus();
    if (n < 0) {
      if (errno == EINTR) continue;
      return Err("read", rel);
    }
    for (ssize_t done = 0; done < n;) {
      ssize_t w = ::write(dst, buf.data() + done, static_cast<size_t>(n - done));
      if (w < 0 && errno != EINTR) return Err("write", rel);
      if (w > 0) done += w;
    }
  }
}

class TreeCopier {
 public:
  TreeCopier(int dst_root, const CopyOptions& options) : dst_root_(dst_root), options_(options) {}

  absl::Status CopyDir(int src, int dst, const std::string& rel, int depth);
  const CopyStats& stats() const { return stats_; }

 private:
  absl::Status CopyEntry(int src, int dst, const std::string& name, const std::string& rel,
                         int depth);
  absl::Status CopySubdir(int src, int dst, const std::string& name, const struct stat& st,
                          const std::string& rel, int depth);
  absl::Status CopyFile(int src, int dst, const std::string& name, const struct stat& st,
                        const std::string& rel);
  absl::Status CopySpecial(int src, int dst, const std::string& name, const struct stat& st,
                           const std::string& rel);

  int dst_root_;
  CopyOptions options_;
  CopyStats stats_;
  absl::flat_hash_map<InodeKey, std::string> links_;  // source inode -> dst relative path
};

absl::Status TreeCopier::CopyDir(int src, int dst, const std::string& rel, int depth) {
  if (depth > kMaxDepth) {
    return absl::FailedPreconditionError(
        absl::StrCat("copy '", rel, "': tree deeper than ", kMaxDepth, " levels"));
  }
  KILN_ASSIGN_OR_RETURN(std::vector<std::string> names, ListDir(src, rel));
  for (const std::string& name : names) {
    KILN_RETURN_IF_ERROR(CopyEntry(src, dst, name, Join(rel, name), depth));
  }
  return absl::OkStatus();
}

absl::Status TreeCopier::CopyEntry(int src, int dst, const std::string& name,
                                   const std::string& rel, int depth) {
  struct stat st;
  if (::fstatat(src, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return Err("stat", rel);
  bool whiteout = S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0);
  if (options_.overlay_layer && whiteout) {
    ++stats_.whiteouts;
    return base::RemoveTreeAt(dst, name);
  }
  struct stat existing;
  bool exists = ::fstatat(dst, name.c_str(), &existing, AT_SYMLINK_NOFOLLOW) == 0;
  if (exists && !(S_ISDIR(st.st_mode) && S_ISDIR(existing.st_mode))) {
    KILN_RETURN_IF_ERROR(base::RemoveTreeAt(dst, name));
  }
  ++stats_.entries;
  if (S_ISDIR(st.st_mode)) return CopySubdir(src, dst, name, st, rel, depth);
  if (S_ISREG(st.st_mode)) return CopyFile(src, dst, name, st, rel);
  return CopySpecial(src, dst, name, st, rel);
}

absl::Status TreeCopier::CopySubdir(int src, int dst, const std::string& name,
                                    const struct stat& st, const std::string& rel, int depth) {
  base::UniqueFd s(::openat(src, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!s) return Err("open", rel);
  if (options_.overlay_layer && IsOpaque(s.get())) {
    KILN_RETURN_IF_ERROR(base::RemoveTreeAt(dst, name));
  }
  if (::mkdirat(dst, name.c_str(), 0700) != 0 && errno != EEXIST) return Err("mkdir", rel);
  base::UniqueFd d(::openat(dst, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!d) return Err("open copy of", rel);
  KILN_RETURN_IF_ERROR(CopyDir(s.get(), d.get(), rel, depth + 1));
  return ApplyMetadata(s.get(), d.get(), st, options_.overlay_layer, rel);
}

absl::Status TreeCopier::CopyFile(int src, int dst, const std::string& name,
                                  const struct stat& st, const std::string& rel) {
  if (st.st_nlink > 1) {
    InodeKey key{st.st_dev, st.st_ino};
    auto it = links_.find(key);
    if (it != links_.end()) {
      if (::linkat(dst_root_, it->second.c_str(), dst, name.c_str(), 0) != 0) {
        return Err(absl::StrCat("hardlink '", it->second, "' as"), rel);
      }
      return absl::OkStatus();
    }
    links_.emplace(key, rel);
  }
  base::UniqueFd s(::openat(src, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  if (!s) return Err("open", rel);
  base::UniqueFd d(
      ::openat(dst, name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!d) return Err("create copy of", rel);
  KILN_RETURN_IF_ERROR(CopyData(s.get(), d.get(), rel));
  return ApplyMetadata(s.get(), d.get(), st, options_.overlay_layer, rel);
}

absl::Status TreeCopier::CopySpecial(int src, int dst, const std::string& name,
                                     const struct stat& st, const std::string& rel) {
  if (S_ISLNK(st.st_mode)) {
    std::vector<char> target(static_cast<size_t>(st.st_size) + 1);
    ssize_t n = ::readlinkat(src, name.c_str(), target.data(), target.size());
    if (n < 0 || static_cast<size_t>(n) >= target.size()) return Err("readlink", rel);
    target[static_cast<size_t>(n)] = '\0';
    if (::symlinkat(target.data(), dst, name.c_str()) != 0) return Err("symlink", rel);
  } else {
    if (::mknodat(dst, name.c_str(), st.st_mode & (S_IFMT | 0777), st.st_rdev) != 0) {
      if (errno == EPERM && (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode))) {
        ++stats_.skipped_devices;
        --stats_.entries;
        return absl::OkStatus();
      }
      return Err("mknod", rel);
    }
  }
  if (::fchownat(dst, name.c_str(), st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW) != 0) {
    return Err("chown", rel);
  }
  if (!S_ISLNK(st.st_mode) && ::fchmodat(dst, name.c_str(), st.st_mode & 07777, 0) != 0) {
    return Err("chmod", rel);
  }
  struct timespec times[2] = {st.st_atim, st.st_mtim};
  if (::utimensat(dst, name.c_str(), times, AT_SYMLINK_NOFOLLOW) != 0) return Err("set times of", rel);
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<CopyStats> CopyTree(int src_dir, int dst_dir, const CopyOptions& options) {
  TreeCopier copier(dst_dir, options);
  KILN_RETURN_IF_ERROR(copier.CopyDir(src_dir, dst_dir, "", 0));
  struct stat st;
  if (::fstat(src_dir, &st) != 0) return Err("stat", "");
  KILN_RETURN_IF_ERROR(ApplyMetadata(src_dir, dst_dir, st, options.overlay_layer, ""));
  return copier.stats();
}

namespace {

absl::Status AddUsage(int dir, const std::string& rel, int depth, DiskUsage* usage,
                      absl::flat_hash_set<InodeKey>* seen) {
  if (depth > kMaxDepth) {
    return absl::FailedPreconditionError(absl::StrCat("usage of '", rel, "': tree too deep"));
  }
  KILN_ASSIGN_OR_RETURN(std::vector<std::string> names, ListDir(dir, rel));
  for (const std::string& name : names) {
    struct stat st;
    if (::fstatat(dir, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      return Err("stat", Join(rel, name));
    }
    if (st.st_nlink > 1 && !S_ISDIR(st.st_mode) && !seen->insert({st.st_dev, st.st_ino}).second) {
      continue;
    }
    ++usage->inodes;
    usage->size += static_cast<int64_t>(st.st_blocks) * 512;
    if (S_ISDIR(st.st_mode)) {
      base::UniqueFd child(
          ::openat(dir, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (!child) return Err("open", Join(rel, name));
      KILN_RETURN_IF_ERROR(AddUsage(child.get(), Join(rel, name), depth + 1, usage, seen));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<DiskUsage> TreeUsage(int dir) {
  DiskUsage usage;
  struct stat st;
  if (::fstat(dir, &st) != 0) return Err("stat", "");
  usage.inodes = 1;
  usage.size = static_cast<int64_t>(st.st_blocks) * 512;
  absl::flat_hash_set<InodeKey> seen;
  KILN_RETURN_IF_ERROR(AddUsage(dir, "", 0, &usage, &seen));
  return usage;
}

absl::StatusOr<base::UniqueFd> OpenDir(const std::string& path) {
  base::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd) return base::ErrnoError(absl::StrCat("open '", path, "'"));
  return fd;
}

}  // namespace kiln::snapshotter::internal
