#include "engine/ops/copy.h"

#include <dirent.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/status.h"
#include "base/digest.h"
#include "base/unique_fd.h"

namespace kiln::engine {
namespace {

using base::ErrnoError;
using base::UniqueFd;

constexpr uint64_t kResolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;

int OpenInRoot(int root, const std::string& rel, uint64_t flags, mode_t mode = 0) {
  struct open_how how = {};
  how.flags = flags | O_CLOEXEC;
  how.mode = (flags & O_CREAT) ? mode : 0;
  how.resolve = kResolve;
  const char* p = rel.empty() ? "." : rel.c_str();
  for (int attempt = 0; attempt < 8; ++attempt) {
    int fd = static_cast<int>(::syscall(SYS_openat2, root, p, &how, sizeof how));
    if (fd >= 0 || errno != EAGAIN) return fd;
  }
  return -1;
}

// Lexically cleans a path into components relative to the root ("" for the root itself).
// ".." never climbs above the root, as RESOLVE_IN_ROOT would do.
std::vector<std::string> Components(std::string_view path) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < path.size()) {
    size_t j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    std::string_view c = path.substr(i, j - i);
    if (c.empty() || c == ".") {
    } else if (c == "..") {
      if (!out.empty()) out.pop_back();
    } else {
      out.emplace_back(c);
    }
    i = j + 1;
  }
  return out;
}

std::string Join(const std::vector<std::string>& comps, size_t n) {
  std::string out;
  for (size_t i = 0; i < n && i < comps.size(); ++i) {
    if (!out.empty()) out += '/';
    out += comps[i];
  }
  return out;
}

std::string Clean(std::string_view path) {
  auto c = Components(path);
  return Join(c, c.size());
}

std::string JoinRel(const std::string& a, const std::string& b) {
  if (a.empty()) return b;
  if (b.empty()) return a;
  return a + "/" + b;
}

bool HasGlob(std::string_view s) { return s.find_first_of("*?[\\") != std::string_view::npos; }

struct Walker {
  const CopyOptions& opts;
  CopyStats stats;
  // (dev, ino) of multiply-linked source files -> O_PATH fd of their first copy.
  std::map<std::pair<dev_t, ino_t>, UniqueFd> links;

  uid_t UidFor(const struct stat& st) const {
    return opts.uid ? *opts.uid : (opts.preserve_owner ? st.st_uid : 0);
  }
  gid_t GidFor(const struct stat& st) const {
    return opts.gid ? *opts.gid : (opts.preserve_owner ? st.st_gid : 0);
  }
  mode_t ModeFor(const struct stat& st) const {
    return opts.mode ? (*opts.mode & 07777) : (st.st_mode & 07777);
  }
  bool Excluded(const std::string& rel, bool is_dir) const {
    return opts.exclude && opts.exclude(rel, is_dir);
  }

  absl::Status CopyXattrs(int src_fd, int dst_fd, const std::string& rel) {
    char names[4096];
    ssize_t n = ::flistxattr(src_fd, names, sizeof names);
    if (n <= 0) return absl::OkStatus();
    for (ssize_t off = 0; off < n;) {
      std::string name(names + off);
      off += static_cast<ssize_t>(name.size()) + 1;
      // Skip overlayfs' own bookkeeping and security labels we cannot set unprivileged.
      if (name.rfind("trusted.overlay.", 0) == 0 || name.rfind("user.overlay.", 0) == 0 ||
          name.rfind("security.selinux", 0) == 0) {
        continue;
      }
      char value[65536];
      ssize_t vn = ::fgetxattr(src_fd, name.c_str(), value, sizeof value);
      if (vn < 0) continue;
      if (::fsetxattr(dst_fd, name.c_str(), value, static_cast<size_t>(vn), 0) != 0 &&
          errno != EPERM && errno != ENOTSUP) {
        return ErrnoError(absl::StrCat("copy xattr ", name, " of '", rel, "'"));
      }
    }
    return absl::OkStatus();
  }

  absl::Status FinishMeta(int dst_fd, const struct stat& st, const std::string& rel) {
    if (::fchown(dst_fd, UidFor(st), GidFor(st)) != 0) {
      return ErrnoError(absl::StrCat("chown '", rel, "' to ", UidFor(st), ":", GidFor(st)));
    }
    if (::fchmod(dst_fd, ModeFor(st)) != 0) return ErrnoError(absl::StrCat("chmod '", rel, "'"));
    struct timespec times[2] = {st.st_atim, st.st_mtim};
    if (::futimens(dst_fd, times) != 0) return ErrnoError(absl::StrCat("set times of '", rel, "'"));
    return absl::OkStatus();
  }

  // Removes a non-directory at dst_dir/name if present; a directory there is an error
  // unless `want_dir`.
  absl::Status ClearTarget(int dst_dir, const std::string& name, bool want_dir,
                           const std::string& rel, bool* exists_as_dir) {
    *exists_as_dir = false;
    struct stat st;
    if (::fstatat(dst_dir, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno == ENOENT) return absl::OkStatus();
      return ErrnoError(absl::StrCat("stat destination '", rel, "'"));
    }
    if (S_ISDIR(st.st_mode)) {
      if (want_dir) {
        *exists_as_dir = true;
        return absl::OkStatus();
      }
      return absl::InvalidArgumentError(
          absl::StrCat("copy '", rel, "': cannot replace a directory with a non-directory"));
    }
    if (::unlinkat(dst_dir, name.c_str(), 0) != 0) {
      return ErrnoError(absl::StrCat("replace destination '", rel, "'"));
    }
    return absl::OkStatus();
  }

  absl::Status CopyRegular(int src_fd, const struct stat& st, int dst_dir, const std::string& name,
                           const std::string& rel) {
    bool is_dir = false;
    KILN_RETURN_IF_ERROR(ClearTarget(dst_dir, name, false, rel, &is_dir));
    if (st.st_nlink > 1) {
      auto it = links.find({st.st_dev, st.st_ino});
      if (it != links.end()) {
        std::string proc = absl::StrCat("/proc/self/fd/", it->second.get());
        if (::linkat(AT_FDCWD, proc.c_str(), dst_dir, name.c_str(), AT_SYMLINK_FOLLOW) == 0) {
          ++stats.files;
          return absl::OkStatus();
        }
      }
    }
    UniqueFd out(::openat(dst_dir, name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                          0600));
    if (!out) return ErrnoError(absl::StrCat("create '", rel, "'"));
    off_t remaining = st.st_size;
    bool use_cfr = true;
    while (remaining > 0) {
      ssize_t n = -1;
      if (use_cfr) {
        n = ::copy_file_range(src_fd, nullptr, out.get(), nullptr, static_cast<size_t>(remaining), 0);
        if (n < 0 && (errno == EXDEV || errno == EINVAL || errno == ENOSYS || errno == EOPNOTSUPP)) {
          use_cfr = false;
          continue;
        }
      } else {
        char buf[1 << 16];
        n = ::read(src_fd, buf, sizeof buf);
        if (n > 0) {
          for (ssize_t w = 0; w < n;) {
            ssize_t k = ::write(out.get(), buf + w, static_cast<size_t>(n - w));
            if (k < 0) return ErrnoError(absl::StrCat("write '", rel, "'"));
            w += k;
          }
        }
      }
      if (n < 0) return ErrnoError(absl::StrCat("copy '", rel, "'"));
      if (n == 0) break;  // file shrank while copying
      remaining -= n;
      stats.bytes += n;
    }
    KILN_RETURN_IF_ERROR(CopyXattrs(src_fd, out.get(), rel));
    KILN_RETURN_IF_ERROR(FinishMeta(out.get(), st, rel));
    if (st.st_nlink > 1) {
      UniqueFd path_fd(::openat(dst_dir, name.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
      if (path_fd) links[{st.st_dev, st.st_ino}] = std::move(path_fd);
    }
    ++stats.files;
    return absl::OkStatus();
  }

  absl::Status CopySymlink(int src_dir, const std::string& src_name, const struct stat& st,
                           int dst_dir, const std::string& name, const std::string& rel) {
    std::string target(static_cast<size_t>(st.st_size) + 1, '\0');
    ssize_t n = ::readlinkat(src_dir, src_name.c_str(), target.data(), target.size());
    if (n < 0) return ErrnoError(absl::StrCat("readlink '", rel, "'"));
    target.resize(static_cast<size_t>(n));
    bool is_dir = false;
    KILN_RETURN_IF_ERROR(ClearTarget(dst_dir, name, false, rel, &is_dir));
    if (::symlinkat(target.c_str(), dst_dir, name.c_str()) != 0) {
      return ErrnoError(absl::StrCat("symlink '", rel, "'"));
    }
    if (::fchownat(dst_dir, name.c_str(), UidFor(st), GidFor(st), AT_SYMLINK_NOFOLLOW) != 0) {
      return ErrnoError(absl::StrCat("chown symlink '", rel, "'"));
    }
    struct timespec times[2] = {st.st_atim, st.st_mtim};
    ::utimensat(dst_dir, name.c_str(), times, AT_SYMLINK_NOFOLLOW);
    ++stats.symlinks;
    return absl::OkStatus();
  }

  absl::Status CopySpecial(const struct stat& st, int dst_dir, const std::string& name,
                           const std::string& rel) {
    bool is_dir = false;
    KILN_RETURN_IF_ERROR(ClearTarget(dst_dir, name, false, rel, &is_dir));
    if (::mknodat(dst_dir, name.c_str(), st.st_mode, st.st_rdev) != 0) {
      return ErrnoError(absl::StrCat("mknod '", rel, "'"));
    }
    if (::fchownat(dst_dir, name.c_str(), UidFor(st), GidFor(st), AT_SYMLINK_NOFOLLOW) != 0) {
      return ErrnoError(absl::StrCat("chown '", rel, "'"));
    }
    ++stats.files;
    return absl::OkStatus();
  }

  // Copies the entry `src_name` of directory `src_dir` to `dst_dir`/`name`.
  absl::Status CopyEntry(int src_dir, const std::string& src_name, const std::string& src_rel,
                         int dst_dir, const std::string& name, const std::string& dst_rel) {
    struct stat st;
    if (::fstatat(src_dir, src_name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      return ErrnoError(absl::StrCat("stat '", src_rel, "'"));
    }
    if (S_ISDIR(st.st_mode)) {
      UniqueFd in(::openat(src_dir, src_name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (!in) return ErrnoError(absl::StrCat("open '", src_rel, "'"));
      bool exists = false;
      KILN_RETURN_IF_ERROR(ClearTarget(dst_dir, name, true, dst_rel, &exists));
      if (!exists && ::mkdirat(dst_dir, name.c_str(), 0700) != 0) {
        return ErrnoError(absl::StrCat("mkdir '", dst_rel, "'"));
      }
      UniqueFd out(::openat(dst_dir, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (!out) return ErrnoError(absl::StrCat("open '", dst_rel, "'"));
      KILN_RETURN_IF_ERROR(CopyDirContents(in.get(), src_rel, out.get(), dst_rel));
      KILN_RETURN_IF_ERROR(CopyXattrs(in.get(), out.get(), dst_rel));
      KILN_RETURN_IF_ERROR(FinishMeta(out.get(), st, dst_rel));
      ++stats.dirs;
      return absl::OkStatus();
    }
    if (S_ISREG(st.st_mode)) {
      UniqueFd in(::openat(src_dir, src_name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
      if (!in) return ErrnoError(absl::StrCat("open '", src_rel, "'"));
      return CopyRegular(in.get(), st, dst_dir, name, dst_rel);
    }
    if (S_ISLNK(st.st_mode)) return CopySymlink(src_dir, src_name, st, dst_dir, name, dst_rel);
    return CopySpecial(st, dst_dir, name, dst_rel);
  }

  absl::Status CopyDirContents(int src_dir, const std::string& src_rel, int dst_dir,
                               const std::string& dst_rel) {
    int dup_fd = ::fcntl(src_dir, F_DUPFD_CLOEXEC, 0);
    if (dup_fd < 0) return ErrnoError(absl::StrCat("dup '", src_rel, "'"));
    DIR* d = ::fdopendir(dup_fd);
    if (d == nullptr) {
      ::close(dup_fd);
      return ErrnoError(absl::StrCat("read dir '", src_rel, "'"));
    }
    ::rewinddir(d);
    std::vector<std::pair<std::string, bool>> entries;
    while (struct dirent* e = ::readdir(d)) {
      std::string n = e->d_name;
      if (n == "." || n == "..") continue;
      entries.emplace_back(std::move(n), e->d_type == DT_DIR);
    }
    ::closedir(d);
    std::sort(entries.begin(), entries.end());
    for (const auto& [n, is_dir_hint] : entries) {
      std::string rel = JoinRel(src_rel, n);
      bool is_dir = is_dir_hint;
      if (opts.exclude) {
        struct stat st;
        if (::fstatat(src_dir, n.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) is_dir = S_ISDIR(st.st_mode);
        if (Excluded(rel, is_dir)) continue;
      }
      KILN_RETURN_IF_ERROR(CopyEntry(src_dir, n, rel, dst_dir, n, JoinRel(dst_rel, n)));
    }
    return absl::OkStatus();
  }
};

absl::Status MakeDirsImpl(int root, const std::vector<std::string>& comps, mode_t mode,
                          std::optional<uid_t> uid, std::optional<gid_t> gid, int depth = 0) {
  if (depth > 40) {
    return absl::InvalidArgumentError(absl::StrCat("mkdir '/", Join(comps, comps.size()),
                                                   "': too many levels of symbolic links"));
  }
  for (size_t i = 1; i <= comps.size(); ++i) {
    std::string cur = Join(comps, i);
    UniqueFd fd(OpenInRoot(root, cur, O_PATH | O_DIRECTORY));
    if (fd) continue;
    if (errno == ENOTDIR) {
      return absl::InvalidArgumentError(absl::StrCat("mkdir '/", cur, "': a parent is not a directory"));
    }
    if (errno != ENOENT) return ErrnoError(absl::StrCat("open '/", cur, "'"));
    UniqueFd parent(OpenInRoot(root, Join(comps, i - 1), O_PATH | O_DIRECTORY));
    if (!parent) return ErrnoError(absl::StrCat("open '/", Join(comps, i - 1), "'"));
    const std::string& name = comps[i - 1];
    if (::mkdirat(parent.get(), name.c_str(), mode) != 0) {
      if (errno != EEXIST) return ErrnoError(absl::StrCat("mkdir '/", cur, "'"));
      // A dangling symlink: create its target inside the root, then go on through it.
      char target[4096];
      ssize_t n = ::readlinkat(parent.get(), name.c_str(), target, sizeof target - 1);
      if (n < 0) return ErrnoError(absl::StrCat("mkdir '/", cur, "'"));
      std::string t(target, static_cast<size_t>(n));
      std::string resolved = t.starts_with("/") ? t : JoinRel(Join(comps, i - 1), t);
      KILN_RETURN_IF_ERROR(MakeDirsImpl(root, Components(resolved), mode, uid, gid, depth + 1));
      continue;
    }
    if (uid || gid) {
      if (::fchownat(parent.get(), name.c_str(), uid.value_or(0), gid.value_or(0),
                     AT_SYMLINK_NOFOLLOW) != 0) {
        return ErrnoError(absl::StrCat("chown '/", cur, "'"));
      }
    }
    // mkdir applies the umask; set the exact mode.
    UniqueFd made(OpenInRoot(root, cur, O_RDONLY | O_DIRECTORY));
    if (made) ::fchmod(made.get(), mode);
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status MakeDirs(int root_fd, std::string_view path, mode_t mode, std::optional<uid_t> uid,
                      std::optional<gid_t> gid) {
  return MakeDirsImpl(root_fd, Components(path), mode, uid, gid);
}

absl::StatusOr<std::vector<std::string>> ExpandWildcards(int root_fd, std::string_view pattern) {
  std::vector<std::string> comps = Components(pattern);
  std::vector<std::string> matches = {""};
  for (size_t ci = 0; ci < comps.size(); ++ci) {
    const std::string& comp = comps[ci];
    bool last = ci + 1 == comps.size();
    std::vector<std::string> next;
    for (const std::string& prefix : matches) {
      if (!HasGlob(comp)) {
        std::string cand = JoinRel(prefix, comp);
        UniqueFd fd(OpenInRoot(root_fd, cand, O_PATH | O_NOFOLLOW | (last ? 0 : O_DIRECTORY)));
        if (fd) next.push_back(cand);
        continue;
      }
      UniqueFd dir(OpenInRoot(root_fd, prefix, O_RDONLY | O_DIRECTORY));
      if (!dir) continue;
      DIR* d = ::fdopendir(dir.release());
      if (d == nullptr) continue;
      while (struct dirent* e = ::readdir(d)) {
        std::string n = e->d_name;
        if (n == "." || n == "..") continue;
        if (::fnmatch(comp.c_str(), n.c_str(), 0) == 0) next.push_back(JoinRel(prefix, n));
      }
      ::closedir(d);
    }
    matches = std::move(next);
    if (matches.empty()) break;
  }
  if (matches.empty() || (matches.size() == 1 && matches[0].empty() && !comps.empty())) {
    return absl::NotFoundError(absl::StrCat("no source files match '", std::string(pattern), "'"));
  }
  std::sort(matches.begin(), matches.end());
  return matches;
}

absl::StatusOr<CopyStats> CopyFiles(int src_root_fd, int dst_root_fd, const CopyOptions& opts) {
  std::vector<std::string> matches;
  for (const std::string& src : opts.sources) {
    if (opts.allow_wildcards && HasGlob(src)) {
      auto m = ExpandWildcards(src_root_fd, src);
      if (!m.ok()) {
        if (opts.allow_empty_wildcard && m.status().code() == absl::StatusCode::kNotFound) continue;
        return m.status();
      }
      for (auto& x : *m) matches.push_back(std::move(x));
    } else {
      matches.push_back(Clean(src));
    }
  }
  if (matches.empty() && !opts.allow_empty_wildcard) {
    return absl::InvalidArgumentError("copy: no source files were specified");
  }
  std::vector<std::string> dest_comps = Components(opts.dest);
  std::string dest_rel = Join(dest_comps, dest_comps.size());
  bool dest_dir_syntax = opts.dest.empty() || opts.dest.back() == '/' || dest_comps.empty() ||
                         opts.dest.ends_with("/.") || opts.dest == ".";
  UniqueFd dest_probe(OpenInRoot(dst_root_fd, dest_rel, O_PATH | O_DIRECTORY));
  bool dest_is_dir = dest_probe.valid();
  if (matches.size() > 1 && !dest_dir_syntax && !dest_is_dir) {
    return absl::InvalidArgumentError(absl::StrCat(
        "copy to '", opts.dest,
        "': when copying more than one source file, the destination must be a directory and end "
        "with a /"));
  }

  Walker w{opts, {}, {}};
  for (const std::string& rel : matches) {
    uint64_t nofollow = opts.follow_source_symlinks ? 0 : O_NOFOLLOW;
    UniqueFd src(OpenInRoot(src_root_fd, rel, O_PATH | nofollow));
    if (!src) {
      if (errno == ENOENT) {
        return absl::NotFoundError(absl::StrCat("copy: source '", rel.empty() ? "." : rel,
                                                "' not found in the build context or stage"));
      }
      return ErrnoError(absl::StrCat("open source '", rel, "'"));
    }
    struct stat st;
    if (::fstat(src.get(), &st) != 0) return ErrnoError(absl::StrCat("stat source '", rel, "'"));
    if (!rel.empty() && w.Excluded(rel, S_ISDIR(st.st_mode))) {
      return absl::NotFoundError(absl::StrCat("copy: source '", rel, "' is excluded (.dockerignore or --exclude)"));
    }
    if (S_ISDIR(st.st_mode)) {
      KILN_RETURN_IF_ERROR(MakeDirsImpl(dst_root_fd, dest_comps, 0755, opts.uid, opts.gid));
      UniqueFd in(OpenInRoot(src_root_fd, rel, O_RDONLY | O_DIRECTORY | nofollow));
      if (!in) return ErrnoError(absl::StrCat("open source dir '", rel, "'"));
      UniqueFd out(OpenInRoot(dst_root_fd, dest_rel, O_RDONLY | O_DIRECTORY));
      if (!out) return ErrnoError(absl::StrCat("open destination '/", dest_rel, "'"));
      KILN_RETURN_IF_ERROR(w.CopyDirContents(in.get(), rel, out.get(), dest_rel));
      continue;
    }
    std::vector<std::string> target = dest_comps;
    if (dest_dir_syntax || dest_is_dir) {
      KILN_RETURN_IF_ERROR(MakeDirsImpl(dst_root_fd, dest_comps, 0755, opts.uid, opts.gid));
      std::vector<std::string> src_comps = Components(rel);
      target.push_back(src_comps.empty() ? std::string(".") : src_comps.back());
    } else {
      std::vector<std::string> parent(dest_comps.begin(), dest_comps.end() - 1);
      KILN_RETURN_IF_ERROR(MakeDirsImpl(dst_root_fd, parent, 0755, opts.uid, opts.gid));
    }
    std::string name = target.back();
    std::string parent_rel = Join(target, target.size() - 1);
    UniqueFd dst_dir(OpenInRoot(dst_root_fd, parent_rel, O_RDONLY | O_DIRECTORY));
    if (!dst_dir) return ErrnoError(absl::StrCat("open destination '/", parent_rel, "'"));
    // Open the source's parent so CopyEntry can work relative to it; for a followed symlink
    // re-resolve the final target inside the root.
    UniqueFd src_parent;
    std::string src_name;
    if (S_ISLNK(st.st_mode) || !opts.follow_source_symlinks) {
      std::vector<std::string> sc = Components(rel);
      src_parent.reset(OpenInRoot(src_root_fd, Join(sc, sc.size() - 1), O_RDONLY | O_DIRECTORY));
      src_name = sc.back();
    } else {
      // Regular file (possibly reached through symlinks): copy from the resolved fd.
      UniqueFd in(OpenInRoot(src_root_fd, rel, O_RDONLY));
      if (!in) return ErrnoError(absl::StrCat("open source '", rel, "'"));
      if (S_ISREG(st.st_mode)) {
        KILN_RETURN_IF_ERROR(w.CopyRegular(in.get(), st, dst_dir.get(), name, JoinRel(parent_rel, name)));
        continue;
      }
      std::vector<std::string> sc = Components(rel);
      src_parent.reset(OpenInRoot(src_root_fd, Join(sc, sc.size() - 1), O_RDONLY | O_DIRECTORY));
      src_name = sc.back();
    }
    if (!src_parent) return ErrnoError(absl::StrCat("open parent of source '", rel, "'"));
    KILN_RETURN_IF_ERROR(w.CopyEntry(src_parent.get(), src_name, rel, dst_dir.get(), name,
                                     JoinRel(parent_rel, name)));
  }
  return w.stats;
}

}  // namespace kiln::engine

namespace kiln::engine {
namespace {

struct Hasher {
  const CopyOptions& opts;
  const ContentHashFn& content_hash;
  base::Sha256 sha;

  void Field(std::string_view s) {
    uint64_t n = s.size();
    sha.Update(&n, sizeof n);
    sha.Update(s);
  }

  absl::StatusOr<std::string> HashFd(int fd, const struct stat& st, const std::string& rel) {
    if (content_hash) return content_hash(fd, st);
    base::Xxh128Hasher h;
    char buf[1 << 16];
    while (true) {
      ssize_t n = ::read(fd, buf, sizeof buf);
      if (n < 0) return base::ErrnoError(absl::StrCat("read '", rel, "'"));
      if (n == 0) break;
      h.Update(buf, static_cast<size_t>(n));
    }
    return h.Finish().hex();
  }

  absl::Status Entry(int dir_fd, const std::string& name, const std::string& rel) {
    struct stat st;
    if (::fstatat(dir_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      return base::ErrnoError(absl::StrCat("stat '", rel, "'"));
    }
    Field(rel);
    Field(absl::StrCat(st.st_mode & S_IFMT, " ", st.st_mode & 07777));
    if (opts.preserve_owner) Field(absl::StrCat(st.st_uid, ":", st.st_gid));
    if (S_ISREG(st.st_mode)) {
      base::UniqueFd fd(::openat(dir_fd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
      if (!fd) return base::ErrnoError(absl::StrCat("open '", rel, "'"));
      KILN_ASSIGN_OR_RETURN(std::string h, HashFd(fd.get(), st, rel));
      Field(h);
    } else if (S_ISLNK(st.st_mode)) {
      char target[4096];
      ssize_t n = ::readlinkat(dir_fd, name.c_str(), target, sizeof target);
      if (n < 0) return base::ErrnoError(absl::StrCat("readlink '", rel, "'"));
      Field(std::string_view(target, static_cast<size_t>(n)));
    } else if (S_ISDIR(st.st_mode)) {
      base::UniqueFd fd(::openat(dir_fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (!fd) return base::ErrnoError(absl::StrCat("open '", rel, "'"));
      return Dir(fd.get(), rel);
    } else {
      Field(absl::StrCat(major(st.st_rdev), ":", minor(st.st_rdev)));
    }
    return absl::OkStatus();
  }

  absl::Status Dir(int fd, const std::string& rel) {
    int dup_fd = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
    DIR* d = dup_fd >= 0 ? ::fdopendir(dup_fd) : nullptr;
    if (d == nullptr) {
      if (dup_fd >= 0) ::close(dup_fd);
      return base::ErrnoError(absl::StrCat("read dir '", rel, "'"));
    }
    ::rewinddir(d);
    std::vector<std::string> names;
    while (struct dirent* e = ::readdir(d)) {
      std::string n = e->d_name;
      if (n != "." && n != "..") names.push_back(std::move(n));
    }
    ::closedir(d);
    std::sort(names.begin(), names.end());
    for (const std::string& n : names) {
      std::string child = JoinRel(rel, n);
      if (opts.exclude) {
        struct stat st;
        bool is_dir = ::fstatat(fd, n.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
        if (opts.exclude(child, is_dir)) continue;
      }
      KILN_RETURN_IF_ERROR(Entry(fd, n, child));
    }
    return absl::OkStatus();
  }
};

}  // namespace

absl::StatusOr<std::string> HashSources(int src_root_fd, const CopyOptions& opts,
                                        const ContentHashFn& content_hash) {
  Hasher h{opts, content_hash, {}};
  h.Field("kiln.copy-sources.v1");
  for (const std::string& src : opts.sources) {
    std::vector<std::string> matches;
    if (opts.allow_wildcards && HasGlob(src)) {
      auto m = ExpandWildcards(src_root_fd, src);
      if (!m.ok()) {
        if (opts.allow_empty_wildcard && m.status().code() == absl::StatusCode::kNotFound) continue;
        return m.status();
      }
      matches = std::move(*m);
    } else {
      matches.push_back(Clean(src));
    }
    for (const std::string& rel : matches) {
      uint64_t nofollow = opts.follow_source_symlinks ? 0 : O_NOFOLLOW;
      UniqueFd fd(OpenInRoot(src_root_fd, rel, O_PATH | nofollow));
      if (!fd) {
        if (errno == ENOENT) {
          return absl::NotFoundError(absl::StrCat("copy: source '", rel.empty() ? "." : rel,
                                                  "' not found in the build context or stage"));
        }
        return ErrnoError(absl::StrCat("open source '", rel, "'"));
      }
      struct stat st;
      if (::fstat(fd.get(), &st) != 0) return ErrnoError(absl::StrCat("stat source '", rel, "'"));
      h.Field(absl::StrCat("source:", rel));
      if (S_ISDIR(st.st_mode)) {
        UniqueFd dir(OpenInRoot(src_root_fd, rel, O_RDONLY | O_DIRECTORY | nofollow));
        if (!dir) return ErrnoError(absl::StrCat("open source dir '", rel, "'"));
        KILN_RETURN_IF_ERROR(h.Dir(dir.get(), rel));
      } else if (S_ISREG(st.st_mode)) {
        UniqueFd in(OpenInRoot(src_root_fd, rel, O_RDONLY | nofollow));
        if (!in) return ErrnoError(absl::StrCat("open source '", rel, "'"));
        h.Field(absl::StrCat(st.st_mode & S_IFMT, " ", st.st_mode & 07777));
        if (opts.preserve_owner) h.Field(absl::StrCat(st.st_uid, ":", st.st_gid));
        KILN_ASSIGN_OR_RETURN(std::string ch, h.HashFd(in.get(), st, rel));
        h.Field(ch);
      } else {
        std::vector<std::string> sc = Components(rel);
        UniqueFd parent(OpenInRoot(src_root_fd, Join(sc, sc.size() - 1), O_RDONLY | O_DIRECTORY));
        if (!parent) return ErrnoError(absl::StrCat("open parent of '", rel, "'"));
        KILN_RETURN_IF_ERROR(h.Entry(parent.get(), sc.back(), rel));
      }
    }
  }
  return h.sha.Finish().hex();
}

}  // namespace kiln::engine
