#include "engine/copy/copy_walker.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <thread>

#include "absl/strings/str_cat.h"
#include "base/status.h"
#include "engine/copy/copy_paths.h"

namespace kiln::engine::internal {

using base::ErrnoError;
using base::UniqueFd;

uid_t CopyWalker::UidFor(const struct stat& st) const {
  return opts_.uid ? *opts_.uid : (opts_.preserve_owner ? st.st_uid : 0);
}

gid_t CopyWalker::GidFor(const struct stat& st) const {
  return opts_.gid ? *opts_.gid : (opts_.preserve_owner ? st.st_gid : 0);
}

mode_t CopyWalker::ModeFor(const struct stat& st) const {
  if (opts_.chmod) return opts_.chmod->Apply(st.st_mode, S_ISDIR(st.st_mode));
  return opts_.mode ? (*opts_.mode & 07777) : (st.st_mode & 07777);
}

namespace {

// Small copies stay on the calling thread; past this many files the rest go to a pool.
constexpr int kInlineFiles = 32;
constexpr size_t kMaxQueuedFiles = 64;

}  // namespace

CopyWalker::~CopyWalker() { pool_.reset(); }

absl::Status CopyWalker::Finish() {
  if (pool_ == nullptr) return absl::OkStatus();
  absl::Status s = pool_->Wait();
  stats_.bytes += async_bytes_.exchange(0);
  return s;
}

absl::Status CopyWalker::CopyXattrs(int src_fd, int dst_fd, const std::string& rel) const {
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

absl::Status CopyWalker::FinishMeta(int dst_fd, const struct stat& st,
                                    const std::string& rel) const {
  if (::fchown(dst_fd, UidFor(st), GidFor(st)) != 0) {
    return ErrnoError(absl::StrCat("chown '", rel, "' to ", UidFor(st), ":", GidFor(st)));
  }
  if (::fchmod(dst_fd, ModeFor(st)) != 0) return ErrnoError(absl::StrCat("chmod '", rel, "'"));
  struct timespec times[2] = {st.st_atim, st.st_mtim};
  if (::futimens(dst_fd, times) != 0) return ErrnoError(absl::StrCat("set times of '", rel, "'"));
  return absl::OkStatus();
}

// Removes a non-directory at dst_dir/name if present; a directory there is an error unless
// `want_dir`.
absl::Status CopyWalker::ClearTarget(int dst_dir, const std::string& name, bool want_dir,
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

absl::StatusOr<UniqueFd> CopyWalker::CreateRegular(const struct stat& st, int dst_dir,
                                                   const std::string& name,
                                                   const std::string& rel) {
  if (!fresh_dirs_.contains(dst_dir)) {
    bool is_dir = false;
    KILN_RETURN_IF_ERROR(ClearTarget(dst_dir, name, false, rel, &is_dir));
  }
  if (st.st_nlink > 1) {
    auto it = links_.find({st.st_dev, st.st_ino});
    if (it != links_.end()) {
      std::string proc = absl::StrCat("/proc/self/fd/", it->second.get());
      if (::linkat(AT_FDCWD, proc.c_str(), dst_dir, name.c_str(), AT_SYMLINK_FOLLOW) == 0) {
        ++stats_.files;
        return UniqueFd();
      }
    }
  }
  UniqueFd out(
      ::openat(dst_dir, name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!out) return ErrnoError(absl::StrCat("create '", rel, "'"));
  if (st.st_nlink > 1) {
    UniqueFd path_fd(::openat(dst_dir, name.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
    if (path_fd) links_[{st.st_dev, st.st_ino}] = std::move(path_fd);
  }
  ++stats_.files;
  return out;
}

absl::Status CopyWalker::FillRegular(int src_fd, int out_fd, const struct stat& st,
                                     const std::string& rel, int64_t* bytes) const {
  off_t remaining = st.st_size;
  bool use_cfr = use_cfr_.load(std::memory_order_relaxed);
  while (remaining > 0) {
    ssize_t n = -1;
    if (use_cfr) {
      n = ::copy_file_range(src_fd, nullptr, out_fd, nullptr, static_cast<size_t>(remaining), 0);
      if (n < 0 && (errno == EXDEV || errno == EINVAL || errno == ENOSYS || errno == EOPNOTSUPP)) {
        use_cfr = false;
        use_cfr_.store(false, std::memory_order_relaxed);  // e.g. context fs -> overlay
        continue;
      }
    } else {
      char buf[1 << 16];
      n = ::read(src_fd, buf, sizeof buf);
      for (ssize_t w = 0; w < n;) {
        ssize_t k = ::write(out_fd, buf + w, static_cast<size_t>(n - w));
        if (k < 0) return ErrnoError(absl::StrCat("write '", rel, "'"));
        w += k;
      }
    }
    if (n < 0) return ErrnoError(absl::StrCat("copy '", rel, "'"));
    if (n == 0) break;  // file shrank while copying
    remaining -= n;
    *bytes += n;
  }
  KILN_RETURN_IF_ERROR(CopyXattrs(src_fd, out_fd, rel));
  return FinishMeta(out_fd, st, rel);
}

absl::Status CopyWalker::CopyRegular(int src_fd, const struct stat& st, int dst_dir,
                                     const std::string& name, const std::string& rel) {
  KILN_ASSIGN_OR_RETURN(UniqueFd out, CreateRegular(st, dst_dir, name, rel));
  if (!out) return absl::OkStatus();  // hard link to an earlier copy
  return FillRegular(src_fd, out.get(), st, rel, &stats_.bytes);
}

absl::Status CopyWalker::CopyRegularOwned(UniqueFd in, const struct stat& st, int dst_dir,
                                          const std::string& name, const std::string& rel) {
  KILN_ASSIGN_OR_RETURN(UniqueFd out, CreateRegular(st, dst_dir, name, rel));
  if (!out) return absl::OkStatus();
  if (++regular_files_ <= kInlineFiles) {
    return FillRegular(in.get(), out.get(), st, rel, &stats_.bytes);
  }
  if (pool_ == nullptr) {
    int threads = static_cast<int>(std::clamp(std::thread::hardware_concurrency(), 1u, 4u));
    pool_ = std::make_unique<CopyPool>(threads, kMaxQueuedFiles);
  }
  // Entry creation stays on this thread, in walk order (so directory times set afterwards
  // hold); only the file's own contents and metadata are finished on the pool.
  struct FileJob {
    UniqueFd in, out;
    struct stat st;
    std::string rel;
  };
  auto job = std::make_shared<FileJob>(FileJob{std::move(in), std::move(out), st, rel});
  return pool_->Submit([this, job]() -> absl::Status {
    int64_t bytes = 0;
    absl::Status s = FillRegular(job->in.get(), job->out.get(), job->st, job->rel, &bytes);
    async_bytes_.fetch_add(bytes, std::memory_order_relaxed);
    return s;
  });
}

absl::Status CopyWalker::CopySymlink(int src_dir, const std::string& src_name,
                                     const struct stat& st, int dst_dir, const std::string& name,
                                     const std::string& rel) {
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
  ++stats_.symlinks;
  return absl::OkStatus();
}

absl::Status CopyWalker::CopySpecial(const struct stat& st, int dst_dir, const std::string& name,
                                     const std::string& rel) {
  bool is_dir = false;
  KILN_RETURN_IF_ERROR(ClearTarget(dst_dir, name, false, rel, &is_dir));
  if (::mknodat(dst_dir, name.c_str(), st.st_mode, st.st_rdev) != 0) {
    return ErrnoError(absl::StrCat("mknod '", rel, "'"));
  }
  if (::fchownat(dst_dir, name.c_str(), UidFor(st), GidFor(st), AT_SYMLINK_NOFOLLOW) != 0) {
    return ErrnoError(absl::StrCat("chown '", rel, "'"));
  }
  ++stats_.files;
  return absl::OkStatus();
}

absl::StatusOr<UniqueFd> CopyWalker::MakeOrMergeDir(int dst_dir, const std::string& name,
                                                    const std::string& rel, bool* created) {
  bool exists = false;
  if (!fresh_dirs_.contains(dst_dir)) {
    KILN_RETURN_IF_ERROR(ClearTarget(dst_dir, name, true, rel, &exists));
  }
  if (!exists && ::mkdirat(dst_dir, name.c_str(), 0700) != 0) {
    return ErrnoError(absl::StrCat("mkdir '", rel, "'"));
  }
  if (created != nullptr) *created = !exists;
  UniqueFd out(::openat(dst_dir, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!out) return ErrnoError(absl::StrCat("open '", rel, "'"));
  return out;
}

absl::Status CopyWalker::CopyEntry(int src_dir, const std::string& src_name,
                                   const std::string& src_rel, int dst_dir, const std::string& name,
                                   const std::string& dst_rel, CopySelection::Decision decision) {
  struct stat st;
  if (::fstatat(src_dir, src_name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    return ErrnoError(absl::StrCat("stat '", src_rel, "'"));
  }
  if (opts_.reuse && opts_.reuse(dst_rel, st)) {
    if (dst_dir < 0 || !S_ISREG(st.st_mode)) {
      return absl::InternalError(absl::StrCat("copy '", dst_rel, "': reuse of a non-file"));
    }
    ++stats_.files;
    stats_.bytes += st.st_size;
    if (opts_.on_regular) opts_.on_regular(dst_rel, src_rel, st);
    return absl::OkStatus();
  }
  if (S_ISREG(st.st_mode) && st.st_nlink == 1 && opts_.on_regular) {
    opts_.on_regular(dst_rel, src_rel, st);
  }
  if (S_ISDIR(st.st_mode)) {
    if (decision.lazy) {
      return CopyLazyDir(src_dir, src_name, src_rel, st, dst_dir, dst_rel, decision.selected);
    }
    UniqueFd in(
        ::openat(src_dir, src_name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!in) return ErrnoError(absl::StrCat("open '", src_rel, "'"));
    KILN_ASSIGN_OR_RETURN(int parent, Materialize(dst_dir));
    bool created = false;
    KILN_ASSIGN_OR_RETURN(UniqueFd out, MakeOrMergeDir(parent, name, dst_rel, &created));
    if (created) fresh_dirs_.insert(out.get());
    absl::Status filled = CopyDirContents(in.get(), src_rel, out.get(), dst_rel, decision.selected);
    fresh_dirs_.erase(out.get());  // before the fd number can be reused
    KILN_RETURN_IF_ERROR(filled);
    KILN_RETURN_IF_ERROR(CopyXattrs(in.get(), out.get(), dst_rel));
    KILN_RETURN_IF_ERROR(FinishMeta(out.get(), st, dst_rel));
    ++stats_.dirs;
    return absl::OkStatus();
  }
  KILN_ASSIGN_OR_RETURN(int parent, Materialize(dst_dir));
  if (S_ISREG(st.st_mode)) {
    UniqueFd in(::openat(src_dir, src_name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
    if (!in) return ErrnoError(absl::StrCat("open '", src_rel, "'"));
    return CopyRegularOwned(std::move(in), st, parent, name, dst_rel);
  }
  if (S_ISLNK(st.st_mode)) return CopySymlink(src_dir, src_name, st, parent, name, dst_rel);
  return CopySpecial(st, parent, name, dst_rel);
}

absl::StatusOr<int> CopyWalker::Materialize(int dst_dir) {
  if (dst_dir >= 0) return dst_dir;
  for (size_t i = 0; i < pending_.size(); ++i) {
    Pending& p = pending_[i];
    if (p.created) continue;
    int parent = p.parent_fd >= 0 ? p.parent_fd : pending_[i - 1].out.get();
    KILN_ASSIGN_OR_RETURN(p.out, MakeOrMergeDir(parent, p.name, p.rel));
    p.created = true;
  }
  return pending_.back().out.get();
}

// A directory the selection takes lazily (excluded itself, or not selected by --parents, but
// something below may be taken): walk it and create it (with the source's metadata) only if
// something below is copied.
absl::Status CopyWalker::CopyLazyDir(int src_dir, const std::string& src_name,
                                     const std::string& src_rel, const struct stat& st, int dst_dir,
                                     const std::string& dst_rel, bool selected) {
  UniqueFd in(::openat(src_dir, src_name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!in) return ErrnoError(absl::StrCat("open '", src_rel, "'"));
  Pending p;
  p.parent_fd = dst_dir;
  p.name = src_name;  // a walked directory keeps its name
  p.rel = dst_rel;
  p.st = st;
  pending_.push_back(std::move(p));
  absl::Status s = CopyDirContents(in.get(), src_rel, -1, dst_rel, selected);
  Pending done = std::move(pending_.back());
  pending_.pop_back();
  KILN_RETURN_IF_ERROR(s);
  if (!done.created) return absl::OkStatus();
  KILN_RETURN_IF_ERROR(CopyXattrs(in.get(), done.out.get(), dst_rel));
  KILN_RETURN_IF_ERROR(FinishMeta(done.out.get(), done.st, dst_rel));
  ++stats_.dirs;
  return absl::OkStatus();
}

absl::Status CopyWalker::CopyDirContents(int src_dir, const std::string& src_rel, int dst_dir,
                                         const std::string& dst_rel, bool selected) {
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
  const bool filtered = selection_.Filtered(selected);
  for (const auto& [n, is_dir_hint] : entries) {
    std::string rel = JoinRel(src_rel, n);
    CopySelection::Decision decision{true, false, selected};
    if (filtered) {
      bool is_dir = is_dir_hint;
      struct stat st;
      if (::fstatat(src_dir, n.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0)
        is_dir = S_ISDIR(st.st_mode);
      decision = selection_.Decide(rel, base_, is_dir, selected);
      if (!decision.take) continue;
    }
    KILN_RETURN_IF_ERROR(CopyEntry(src_dir, n, rel, dst_dir, n, JoinRel(dst_rel, n), decision));
  }
  return absl::OkStatus();
}

}  // namespace kiln::engine::internal
