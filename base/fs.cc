#include "base/fs.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <memory>

#include "absl/strings/str_cat.h"
#include "base/path.h"
#include "base/status.h"

namespace kiln::base {
namespace {

constexpr int kMaxEagainRetries = 64;

std::string Shown(std::string_view where, std::string_view name) {
  return where.empty() ? std::string(name) : JoinPath(where, name);
}

struct DirCloser {
  void operator()(DIR* d) const { ::closedir(d); }
};

// Opens the directory `name` of `dir_fd` for reading without following a symlink, making it
// readable first when it is not (a 0000 directory in a tree being removed).
int OpenDirForRemoval(int dir_fd, const std::string& name) {
  int fd = ::openat(dir_fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd >= 0 || errno != EACCES) return fd;
  UniqueFd path_fd(::openat(dir_fd, name.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!path_fd) return -1;
  // chmod through the O_PATH fd: the inode checked above, never a symlink swapped in since.
  std::string proc = absl::StrCat("/proc/self/fd/", path_fd.get());
  if (::chmod(proc.c_str(), 0700) != 0) return -1;
  return ::openat(path_fd.get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

constexpr int kMaxRemoveDepth = 4096;

absl::Status RemoveEntry(int dir_fd, const std::string& name, dev_t parent_dev,
                         const RemoveTreeOptions& options, const std::string& shown, int depth) {
  struct stat st;
  if (::fstatat(dir_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno == ENOENT) return absl::OkStatus();
    return ErrnoError(absl::StrCat("stat '", shown, "'"));
  }
  if (!S_ISDIR(st.st_mode)) {
    if (::unlinkat(dir_fd, name.c_str(), 0) != 0 && errno != ENOENT) {
      return ErrnoError(absl::StrCat("unlink '", shown, "'"));
    }
    return absl::OkStatus();
  }
  if (depth > kMaxRemoveDepth) {
    return absl::FailedPreconditionError(
        absl::StrCat("'", shown, "': tree deeper than ", kMaxRemoveDepth, " levels"));
  }
  if (st.st_dev != parent_dev && !options.cross_devices) {
    return absl::FailedPreconditionError(
        absl::StrCat("'", shown, "' is on another file system (a mount point); unmount it first"));
  }
  UniqueFd fd(OpenDirForRemoval(dir_fd, name));
  if (!fd) {
    if (errno == ENOENT) return absl::OkStatus();
    return ErrnoError(absl::StrCat("open '", shown, "'"));
  }
  struct stat self;
  if (::fstat(fd.get(), &self) != 0) return ErrnoError(absl::StrCat("stat '", shown, "'"));
  if ((self.st_mode & 0700) != 0700 && ::fchmod(fd.get(), self.st_mode | 0700) != 0) {
    return ErrnoError(absl::StrCat("chmod '", shown, "'"));
  }
  KILN_ASSIGN_OR_RETURN(std::vector<std::string> names, ListDirNames(fd.get(), false, shown));
  for (const std::string& n : names) {
    KILN_RETURN_IF_ERROR(
        RemoveEntry(fd.get(), n, self.st_dev, options, JoinPath(shown, n), depth + 1));
  }
  fd.reset();
  if (::unlinkat(dir_fd, name.c_str(), AT_REMOVEDIR) != 0 && errno != ENOENT) {
    return ErrnoError(absl::StrCat("rmdir '", shown, "'"));
  }
  return absl::OkStatus();
}

}  // namespace

int OpenAt2(int dirfd, std::string_view rel, int flags, mode_t mode, uint64_t resolve) {
  struct open_how how = {};
  how.flags = static_cast<uint64_t>(flags) | O_CLOEXEC;
  how.mode = (flags & (O_CREAT | O_TMPFILE)) != 0 ? mode : 0;
  how.resolve = resolve;
  std::string path = rel.empty() ? std::string(".") : std::string(rel);
  int eagain = 0;
  for (;;) {
    long fd = ::syscall(SYS_openat2, dirfd, path.c_str(), &how, sizeof how);
    if (fd >= 0) return static_cast<int>(fd);
    if (errno == EINTR) continue;
    if (errno == EAGAIN && ++eagain < kMaxEagainRetries) continue;
    return -1;
  }
}

absl::StatusOr<UniqueFd> OpenInRoot(int root_fd, std::string_view rel, int flags, uint64_t resolve,
                                    mode_t mode) {
  int fd = OpenAt2(root_fd, rel, flags, mode, resolve);
  if (fd >= 0) return UniqueFd(fd);
  if (errno == ENOSYS) {
    return absl::FailedPreconditionError("openat2: the kernel lacks it (need Linux >= 5.6)");
  }
  return ErrnoError(absl::StrCat("open '", AsAbsl(rel.empty() ? "." : rel), "'"));
}

absl::Status ForEachDirEntry(int dir_fd, const std::function<bool(const DirEntry&)>& fn,
                             std::string_view what) {
  const std::string shown =
      absl::StrCat("list directory '", AsAbsl(what.empty() ? "." : what), "'");
  int dup = ::openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dup < 0) return ErrnoError(shown);
  std::unique_ptr<DIR, DirCloser> dir(::fdopendir(dup));
  if (dir == nullptr) {
    absl::Status s = ErrnoError(shown);
    ::close(dup);
    return s;
  }
  DirEntry entry;
  for (;;) {
    errno = 0;
    struct dirent* ent = ::readdir(dir.get());
    if (ent == nullptr) break;
    std::string_view n = ent->d_name;
    if (n == "." || n == "..") continue;
    entry.name.assign(n);
    entry.type = ent->d_type;
    if (!fn(entry)) return absl::OkStatus();
  }
  if (errno != 0) return ErrnoError(shown);
  return absl::OkStatus();
}

absl::StatusOr<std::vector<DirEntry>> ListDir(int dir_fd, bool sorted, std::string_view what) {
  std::vector<DirEntry> out;
  KILN_RETURN_IF_ERROR(ForEachDirEntry(
      dir_fd,
      [&](const DirEntry& e) {
        out.push_back(e);
        return true;
      },
      what));
  if (sorted) {
    std::sort(out.begin(), out.end(),
              [](const DirEntry& a, const DirEntry& b) { return a.name < b.name; });
  }
  return out;
}

absl::StatusOr<std::vector<std::string>> ListDirNames(int dir_fd, bool sorted,
                                                      std::string_view what) {
  std::vector<std::string> out;
  KILN_RETURN_IF_ERROR(ForEachDirEntry(
      dir_fd,
      [&](const DirEntry& e) {
        out.push_back(e.name);
        return true;
      },
      what));
  if (sorted) std::sort(out.begin(), out.end());
  return out;
}

absl::StatusOr<UniqueFd> MkdirAllAt(int root_fd, std::string_view rel, mode_t mode) {
  if (rel.find('\0') != std::string_view::npos || HasDotDot(rel)) {
    return absl::InvalidArgumentError(
        absl::StrCat("mkdir '", AsAbsl(rel), "': expected a path without '..' or NUL"));
  }
  UniqueFd cur(::openat(root_fd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!cur) return ErrnoError(absl::StrCat("mkdir '", AsAbsl(rel), "': open root"));
  std::string done;
  for (const std::string& c : PathComponents(rel)) {
    done = JoinPath(done, c);
    constexpr int kFlags = O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
    UniqueFd next(::openat(cur.get(), c.c_str(), kFlags));
    if (!next && errno == ENOENT) {
      if (::mkdirat(cur.get(), c.c_str(), mode) != 0 && errno != EEXIST) {
        return ErrnoError(absl::StrCat("mkdir '", done, "'"));
      }
      next.reset(::openat(cur.get(), c.c_str(), kFlags));
    }
    if (!next) {
      if (errno == ENOTDIR || errno == ELOOP) {
        return ErrnoError(ENOTDIR, absl::StrCat("mkdir '", done,
                                                "': exists and is not a directory (a symlink "
                                                "is never followed)"));
      }
      return ErrnoError(absl::StrCat("mkdir '", done, "'"));
    }
    cur = std::move(next);
  }
  return cur;
}

absl::Status MkdirAll(const std::string& path, mode_t mode) {
  if (path.empty()) return absl::InvalidArgumentError("mkdir '': expected a path");
  std::string cur = path[0] == '/' ? "/" : "";
  for (const std::string& c : PathComponents(path)) {
    cur = cur.empty() ? c : JoinPath(cur, c);
    if (::mkdir(cur.c_str(), mode) == 0 || errno == EEXIST) continue;
    return ErrnoError(absl::StrCat("mkdir '", cur, "'"));
  }
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return ErrnoError(absl::StrCat("mkdir '", path, "'"));
  if (!S_ISDIR(st.st_mode)) {
    return ErrnoError(ENOTDIR, absl::StrCat("mkdir '", path, "'"));
  }
  return absl::OkStatus();
}

absl::Status RemoveTreeAt(int dir_fd, std::string_view name, const RemoveTreeOptions& options) {
  if (name.empty() || name == "." || name == ".." || name.find('/') != std::string_view::npos ||
      name.find('\0') != std::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("remove tree '", AsAbsl(name),
                     "': refused; expected the name of one entry of the directory"));
  }
  struct stat parent;
  if (::fstat(dir_fd, &parent) != 0) return ErrnoError("remove tree: stat parent directory");
  std::string n(name);
  return Annotate(RemoveEntry(dir_fd, n, parent.st_dev, options, n, 0),
                  absl::StrCat("remove tree '",
                               options.shown_as.empty() ? n : std::string(options.shown_as), "'"));
}

absl::Status WriteAll(int fd, std::string_view data, std::string_view what) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoError(absl::StrCat("write '", AsAbsl(what), "'"));
    data.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReadAll(int fd, std::string_view what, size_t limit) {
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoError(absl::StrCat("read '", AsAbsl(what), "'"));
    if (n == 0) return out;
    if (out.size() + static_cast<size_t>(n) > limit) {
      return absl::DataLossError(
          absl::StrCat("read '", AsAbsl(what), "': larger than ", limit, " bytes"));
    }
    out.append(buf, static_cast<size_t>(n));
  }
}

absl::Status WriteFileAtomicallyAt(int dir_fd, std::string_view name,
                                   const std::function<absl::Status(int fd)>& fill,
                                   const WriteFileOptions& options) {
  if (name.empty() || name == "." || name == ".." || name.find('/') != std::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat(
        "write '", AsAbsl(name), "': expected the name of one entry of the directory"));
  }
  static std::atomic<uint64_t> counter{0};
  const std::string target(name);
  const std::string tmp = absl::StrCat(".", target.substr(0, 200), ".tmp-", ::getpid(), "-",
                                       counter.fetch_add(1, std::memory_order_relaxed));
  const std::string shown = Shown(options.where, target);
  UniqueFd fd(::openat(dir_fd, tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                       options.mode));
  if (!fd) return ErrnoError(absl::StrCat("create '", Shown(options.where, tmp), "'"));
  absl::Status st = fill(fd.get());
  if (st.ok() && options.sync && ::fsync(fd.get()) != 0) {
    st = ErrnoError(absl::StrCat("fsync '", Shown(options.where, tmp), "'"));
  }
  fd.reset();
  if (st.ok() && ::renameat(dir_fd, tmp.c_str(), dir_fd, target.c_str()) != 0) {
    st = ErrnoError(absl::StrCat("rename '", Shown(options.where, tmp), "' to '", shown, "'"));
  }
  if (!st.ok()) {
    ::unlinkat(dir_fd, tmp.c_str(), 0);
    return st;
  }
  if (options.sync_dir && ::fsync(dir_fd) != 0) {
    return ErrnoError(
        absl::StrCat("fsync '", AsAbsl(options.where.empty() ? "." : options.where), "'"));
  }
  return absl::OkStatus();
}

absl::Status WriteFileAtomicallyAt(int dir_fd, std::string_view name, std::string_view data,
                                   const WriteFileOptions& options) {
  const std::string shown = Shown(options.where, name);
  return WriteFileAtomicallyAt(
      dir_fd, name, [&](int fd) { return WriteAll(fd, data, shown); }, options);
}

absl::Status WriteFileAtomically(const std::string& path,
                                 const std::function<absl::Status(int fd)>& fill,
                                 const WriteFileOptions& options) {
  auto [dir, name] = SplitDirBase(path);
  if (dir.empty()) dir = ".";
  UniqueFd dir_fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir_fd) return ErrnoError(absl::StrCat("write '", path, "': open directory"));
  WriteFileOptions o = options;
  o.where = dir;
  return WriteFileAtomicallyAt(dir_fd.get(), name, fill, o);
}

absl::Status WriteFileAtomically(const std::string& path, std::string_view data,
                                 const WriteFileOptions& options) {
  return WriteFileAtomically(
      path, [&](int fd) { return WriteAll(fd, data, path); }, options);
}

}  // namespace kiln::base
