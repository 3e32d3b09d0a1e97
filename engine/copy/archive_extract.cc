#include "engine/copy/archive_extract.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <locale.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/fs.h"
#include "base/path.h"
#include "base/status.h"
#include "base/unique_fd.h"
#include "engine/copy/copy_paths.h"

namespace kiln::engine {
namespace {

using base::ErrnoError;
using base::UniqueFd;
using internal::Join;
using internal::OpenBeneathNoSymlinks;

constexpr int kMaxSymlinkHops = 255;

// libarchive converts pax (UTF-8) names to the current locale; under the default "C" locale
// non-ASCII names would be mangled. C.UTF-8 makes every name pass through byte for byte.
class ScopedUtf8Locale {
 public:
  ScopedUtf8Locale() : loc_(::newlocale(LC_ALL_MASK, "C.UTF-8", nullptr)) {
    if (loc_ != nullptr) old_ = ::uselocale(loc_);
  }
  ~ScopedUtf8Locale() {
    if (loc_ == nullptr) return;
    ::uselocale(old_);
    ::freelocale(loc_);
  }
  ScopedUtf8Locale(const ScopedUtf8Locale&) = delete;
  ScopedUtf8Locale& operator=(const ScopedUtf8Locale&) = delete;

 private:
  locale_t loc_;
  locale_t old_ = nullptr;
};

std::vector<std::string> Split(std::string_view p) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i <= p.size()) {
    size_t j = p.find('/', i);
    if (j == std::string_view::npos) j = p.size();
    if (j > i) out.emplace_back(p.substr(i, j - i));
    i = j + 1;
  }
  return out;
}

// Go's path.Clean on a path relative to `base` components; false when ".." leaves the root.
bool CleanInto(std::vector<std::string>& comps, std::string_view path) {
  for (std::string& c : Split(path)) {
    if (c == ".") continue;
    if (c == "..") {
      if (comps.empty()) return false;
      comps.pop_back();
      continue;
    }
    comps.push_back(std::move(c));
  }
  return true;
}

// A tar path made relative to the extraction root: leading '/' dropped, cleaned; "" = root.
absl::StatusOr<std::string> CleanEntryPath(std::string_view path) {
  absl::StatusOr<std::string> clean = base::CleanBeneath(path);
  if (!clean.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "archive path '", std::string(path), "' is outside the extraction root"));
  }
  return clean;
}

bool IsOverlayXattr(std::string_view name) {
  return name.starts_with("trusted.overlay.") || name.starts_with("user.overlay.");
}

struct timespec BoundTime(int64_t sec, long nsec) {
  // BuildKit clamps times outside [epoch, max time.Time for a timespec] to the epoch.
  if (sec < 0 || sec > 9223372035) return {0, 0};
  return {static_cast<time_t>(sec), nsec};
}

}  // namespace

struct TarArchive::Impl {
  std::string name;
  archive* a = nullptr;
  archive_entry* first = nullptr;  // read by Open; owned by `a`
  ~Impl() {
    if (a != nullptr) archive_read_free(a);
  }
};

TarArchive::TarArchive(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
TarArchive::~TarArchive() = default;

absl::StatusOr<std::unique_ptr<TarArchive>> TarArchive::Open(int fd, std::string name) {
  ScopedUtf8Locale locale;
  auto impl = std::make_unique<Impl>();
  impl->name = std::move(name);
  impl->a = archive_read_new();
  if (impl->a == nullptr) return absl::ResourceExhaustedError("archive_read_new failed");
  struct Filter {
    int (*enable)(archive*);
    const char* what;
  };
  for (const Filter& f : {Filter{archive_read_support_filter_gzip, "gzip"},
                          Filter{archive_read_support_filter_bzip2, "bzip2"},
                          Filter{archive_read_support_filter_xz, "xz"},
                          Filter{archive_read_support_filter_zstd, "zstd"}}) {
    // ARCHIVE_WARN means "only through an external program": not acceptable here.
    if (f.enable(impl->a) != ARCHIVE_OK) {
      return absl::FailedPreconditionError(absl::StrCat(
          "ADD of a local archive: this libarchive has no built-in ", f.what, " decompressor"));
    }
  }
  if (archive_read_support_format_tar(impl->a) != ARCHIVE_OK) {
    return absl::FailedPreconditionError("ADD of a local archive: libarchive lacks tar support");
  }
  if (archive_read_open_fd(impl->a, fd, 1 << 16) != ARCHIVE_OK) return nullptr;
  int r = archive_read_next_header(impl->a, &impl->first);
  if (r != ARCHIVE_OK && r != ARCHIVE_WARN) return nullptr;  // not a tar (or an empty one)
  return std::unique_ptr<TarArchive>(new TarArchive(std::move(impl)));
}

namespace {

// Unpacks entries under `root` (see the header for the rules).
class Extractor {
 public:
  Extractor(archive* a, const std::string& archive_name, int root, const ExtractOptions& o)
      : a_(a), archive_(archive_name), root_(root), opts_(o) {}

  absl::Status Entry(archive_entry* e);
  absl::Status FinishDirs();
  CopyStats stats() const { return stats_; }

 private:
  struct DirTime {
    std::string path;
    struct timespec times[2];
  };

  absl::Status Error(const std::string& entry, const std::string& what) const {
    return absl::InvalidArgumentError(
        absl::StrCat("extract '", entry, "' from '", archive_, "': ", what));
  }
  absl::Status Errno(const std::string& entry, const std::string& op) const {
    return ErrnoError(absl::StrCat(op, " '", entry, "' (from archive '", archive_, "')"));
  }
  absl::StatusOr<std::string> Resolve(const std::string& name, bool follow_leaf) const;
  absl::StatusOr<UniqueFd> EnsureParents(const std::vector<std::string>& comps);
  absl::Status Chown(int dirfd, const std::string& leaf, const std::string& entry, uid_t uid,
                     gid_t gid, int flags);
  absl::Status WriteData(int fd, const std::string& entry, int64_t size);
  void SetXattrs(int fd, archive_entry* e);

  archive* a_;
  const std::string& archive_;
  int root_;
  const ExtractOptions& opts_;
  CopyStats stats_;
  std::vector<DirTime> dirs_;
};

// The symlink-free path (relative to the root) that `name` denotes: symlinks met on the way
// are followed inside the root, a relative one that leaves the root is an error.
absl::StatusOr<std::string> Extractor::Resolve(const std::string& name, bool follow_leaf) const {
  std::vector<std::string> parts = Split(name);
  for (int hop = 0; hop < kMaxSymlinkHops; ++hop) {
    std::vector<std::string> resolved;
    UniqueFd cur(::fcntl(root_, F_DUPFD_CLOEXEC, 0));
    if (!cur) return Errno(name, "dup root of");
    bool followed = false;
    for (size_t i = 0; i < parts.size(); ++i) {
      const std::string& part = parts[i];
      const bool last = i + 1 == parts.size();
      if (last && !follow_leaf) {
        resolved.push_back(part);
        break;
      }
      struct stat st;
      if (::fstatat(cur.get(), part.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno != ENOENT) return Errno(name, "resolve");
        resolved.insert(resolved.end(), parts.begin() + static_cast<ptrdiff_t>(i), parts.end());
        return Join(resolved);
      }
      if (!S_ISLNK(st.st_mode)) {
        resolved.push_back(part);
        if (last) break;
        cur.reset(::openat(cur.get(), part.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (!cur) return Errno(name, "resolve");
        continue;
      }
      std::string target(static_cast<size_t>(st.st_size) + 1, '\0');
      ssize_t n = ::readlinkat(cur.get(), part.c_str(), target.data(), target.size());
      if (n < 0) return Errno(name, "readlink on the way to");
      target.resize(static_cast<size_t>(n));
      std::vector<std::string> next;
      if (!target.starts_with("/")) next = resolved;
      if (!CleanInto(next, target)) {
        return Error(name, absl::StrCat("symlink '", Join(resolved), resolved.empty() ? "" : "/",
                                        part, "' points outside the extraction root"));
      }
      next.insert(next.end(), parts.begin() + static_cast<ptrdiff_t>(i) + 1, parts.end());
      parts = std::move(next);
      followed = true;
      break;
    }
    if (!followed) return Join(resolved);
  }
  return Error(name, "too many symlinks");
}

// Opens (creating 0755, 0:0 where missing) the directory `comps` below the root.
absl::StatusOr<UniqueFd> Extractor::EnsureParents(const std::vector<std::string>& comps) {
  UniqueFd cur(::fcntl(root_, F_DUPFD_CLOEXEC, 0));
  if (!cur) return Errno(".", "dup root");
  for (size_t i = 0; i < comps.size(); ++i) {
    const std::string& c = comps[i];
    bool created = ::mkdirat(cur.get(), c.c_str(), 0755) == 0;
    if (!created && errno != EEXIST) return Errno(Join(comps, i + 1), "mkdir");
    UniqueFd next(::openat(cur.get(), c.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!next) {
      if (errno == ENOTDIR || errno == ELOOP) return Error(Join(comps, i + 1), "not a directory");
      return Errno(Join(comps, i + 1), "open");
    }
    if (created) {
      if (::fchown(next.get(), 0, 0) != 0) return Errno(Join(comps, i + 1), "chown");
      if (::fchmod(next.get(), 0755) != 0) return Errno(Join(comps, i + 1), "chmod");
    }
    cur = std::move(next);
  }
  return cur;
}

absl::Status Extractor::Chown(int dirfd, const std::string& leaf, const std::string& entry,
                              uid_t uid, gid_t gid, int flags) {
  if (::fchownat(dirfd, leaf.c_str(), uid, gid, flags) == 0) return absl::OkStatus();
  if (errno == EINVAL) {
    return Error(entry, absl::StrCat("owner ", uid, ":", gid,
                                     " is not mapped in this user namespace (a rootless build "
                                     "needs a subordinate id range, or ADD --chown)"));
  }
  return Errno(entry, "chown");
}

absl::Status Extractor::WriteData(int fd, const std::string& entry, int64_t size) {
  const void* buf = nullptr;
  size_t len = 0;
  la_int64_t offset = 0;
  int64_t end = 0;
  while (true) {
    int r = archive_read_data_block(a_, &buf, &len, &offset);
    if (r == ARCHIVE_EOF) break;
    if (r != ARCHIVE_OK && r != ARCHIVE_WARN) {
      return absl::DataLossError(absl::StrCat("read '", entry, "' from archive '", archive_,
                                              "': ", archive_error_string(a_)));
    }
    const char* p = static_cast<const char*>(buf);
    for (size_t done = 0; done < len;) {
      ssize_t w = ::pwrite(fd, p + done, len - done, static_cast<off_t>(offset) + done);
      if (w < 0) return Errno(entry, "write");
      done += static_cast<size_t>(w);
    }
    end = std::max<int64_t>(end, offset + static_cast<int64_t>(len));
    stats_.bytes += static_cast<int64_t>(len);
  }
  if (size > end && ::ftruncate(fd, size) != 0) return Errno(entry, "extend (sparse)");
  return absl::OkStatus();
}

void Extractor::SetXattrs(int fd, archive_entry* e) {
  const char* name = nullptr;
  const void* value = nullptr;
  size_t size = 0;
  archive_entry_xattr_reset(e);
  while (archive_entry_xattr_next(e, &name, &value, &size) == ARCHIVE_OK) {
    if (name == nullptr || IsOverlayXattr(name)) continue;
    (void)::fsetxattr(fd, name, value, size, 0);  // best effort, as BuildKit
  }
}

absl::Status Extractor::Entry(archive_entry* e) {
  const char* raw = archive_entry_pathname(e);
  if (raw == nullptr) return Error("?", "entry without a path");
  KILN_ASSIGN_OR_RETURN(std::string name, CleanEntryPath(raw));
  if (name.empty()) return absl::OkStatus();  // the root itself
  const char* hardlink = archive_entry_hardlink(e);
  const mode_t type = archive_entry_filetype(e);
  const bool is_dir = hardlink == nullptr && type == AE_IFDIR;
  KILN_ASSIGN_OR_RETURN(std::string path, Resolve(name, is_dir));
  if (path.empty()) return absl::OkStatus();
  std::vector<std::string> comps = Split(path);
  const std::string leaf = comps.back();
  comps.pop_back();
  KILN_ASSIGN_OR_RETURN(UniqueFd parent, EnsureParents(comps));
  struct stat old;
  if (::fstatat(parent.get(), leaf.c_str(), &old, AT_SYMLINK_NOFOLLOW) == 0 &&
      !(S_ISDIR(old.st_mode) && is_dir)) {
    KILN_RETURN_IF_ERROR(base::RemoveTreeAt(parent.get(), leaf));
  }
  la_int64_t raw_uid = archive_entry_uid(e), raw_gid = archive_entry_gid(e);
  if (raw_uid < 0 || raw_gid < 0 || raw_uid >= 0xffffffffLL || raw_gid >= 0xffffffffLL) {
    return Error(name, absl::StrCat("invalid owner ", raw_uid, ":", raw_gid));
  }
  const uid_t uid = opts_.uid ? *opts_.uid : static_cast<uid_t>(raw_uid);
  const gid_t gid = opts_.gid ? *opts_.gid : static_cast<gid_t>(raw_gid);
  const mode_t mode = archive_entry_perm(e) & 07777;
  struct timespec mtime = BoundTime(archive_entry_mtime_is_set(e) ? archive_entry_mtime(e) : -1,
                                    archive_entry_mtime_nsec(e));
  struct timespec atime = mtime;
  if (archive_entry_atime_is_set(e)) {
    struct timespec at = BoundTime(archive_entry_atime(e), archive_entry_atime_nsec(e));
    if (at.tv_sec > atime.tv_sec || (at.tv_sec == atime.tv_sec && at.tv_nsec > atime.tv_nsec)) {
      atime = at;
    }
  }
  struct timespec times[2] = {atime, mtime};
  const int p = parent.get();
  const char* l = leaf.c_str();

  if (hardlink != nullptr) {
    KILN_ASSIGN_OR_RETURN(std::string target, CleanEntryPath(hardlink));
    if (target.empty()) return Error(name, "hardlink to the extraction root");
    KILN_ASSIGN_OR_RETURN(target, Resolve(target, false));
    std::vector<std::string> tc = Split(target);
    std::string tleaf = tc.back();
    tc.pop_back();
    UniqueFd tparent(OpenBeneathNoSymlinks(root_, Join(tc), O_PATH | O_DIRECTORY));
    if (!tparent) return Errno(name, absl::StrCat("hardlink target '", hardlink, "' of"));
    if (::linkat(tparent.get(), tleaf.c_str(), p, l, 0) != 0) {
      if (errno == ENOENT) {
        return absl::NotFoundError(absl::StrCat("extract '", name, "' from '", archive_,
                                                "': hardlink target '", hardlink, "' not found"));
      }
      return Errno(name, "hardlink");
    }
    KILN_RETURN_IF_ERROR(Chown(p, leaf, name, uid, gid, AT_SYMLINK_NOFOLLOW));
    struct stat st;
    if (::fstatat(p, l, &st, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISLNK(st.st_mode)) {
      if (::fchmodat(p, l, mode, 0) != 0) return Errno(name, "chmod");
      if (::utimensat(p, l, times, AT_SYMLINK_NOFOLLOW) != 0) return Errno(name, "set times of");
    }
    ++stats_.files;
    return absl::OkStatus();
  }
  switch (type) {
    case AE_IFDIR: {
      if (::mkdirat(p, l, mode & 0777) != 0 && errno != EEXIST) return Errno(name, "mkdir");
      UniqueFd d(::openat(p, l, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (!d) return Errno(name, "open");
      KILN_RETURN_IF_ERROR(Chown(p, leaf, name, uid, gid, AT_SYMLINK_NOFOLLOW));
      if (::fchmod(d.get(), mode) != 0) return Errno(name, "chmod");
      SetXattrs(d.get(), e);
      dirs_.push_back(DirTime{path, {atime, mtime}});
      ++stats_.dirs;
      return absl::OkStatus();
    }
    case AE_IFREG: {
      UniqueFd f(::openat(p, l, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
      if (!f) return Errno(name, "create");
      KILN_RETURN_IF_ERROR(WriteData(f.get(), name, archive_entry_size(e)));
      if (::fchown(f.get(), uid, gid) != 0) {
        KILN_RETURN_IF_ERROR(Chown(p, leaf, name, uid, gid, AT_SYMLINK_NOFOLLOW));
      }
      if (::fchmod(f.get(), mode) != 0) return Errno(name, "chmod");
      SetXattrs(f.get(), e);
      if (::futimens(f.get(), times) != 0) return Errno(name, "set times of");
      ++stats_.files;
      return absl::OkStatus();
    }
    case AE_IFLNK: {
      const char* target = archive_entry_symlink(e);
      if (target == nullptr) return Error(name, "symlink without a target");
      if (::symlinkat(target, p, l) != 0) return Errno(name, "symlink");
      KILN_RETURN_IF_ERROR(Chown(p, leaf, name, uid, gid, AT_SYMLINK_NOFOLLOW));
      if (::utimensat(p, l, times, AT_SYMLINK_NOFOLLOW) != 0) return Errno(name, "set times of");
      ++stats_.symlinks;
      return absl::OkStatus();
    }
    case AE_IFIFO: {
      if (::mknodat(p, l, S_IFIFO | (mode & 0777), 0) != 0) return Errno(name, "mkfifo");
      KILN_RETURN_IF_ERROR(Chown(p, leaf, name, uid, gid, AT_SYMLINK_NOFOLLOW));
      if (::fchmodat(p, l, mode, 0) != 0) return Errno(name, "chmod");
      if (::utimensat(p, l, times, AT_SYMLINK_NOFOLLOW) != 0) return Errno(name, "set times of");
      ++stats_.files;
      return absl::OkStatus();
    }
    default:
      return Error(name, "unsupported entry type (device nodes and sockets are not extracted)");
  }
}

absl::Status Extractor::FinishDirs() {
  for (auto it = dirs_.rbegin(); it != dirs_.rend(); ++it) {
    std::vector<std::string> comps = Split(it->path);
    std::string leaf = comps.back();
    comps.pop_back();
    UniqueFd parent(OpenBeneathNoSymlinks(root_, Join(comps), O_PATH | O_DIRECTORY));
    if (!parent) continue;  // replaced by a later entry
    if (::utimensat(parent.get(), leaf.c_str(), it->times, AT_SYMLINK_NOFOLLOW) != 0 &&
        errno != ENOENT) {
      return Errno(it->path, "set times of");
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<CopyStats> TarArchive::ExtractTo(int dest_fd, const ExtractOptions& options) {
  if (impl_->first == nullptr) return absl::FailedPreconditionError("archive already extracted");
  ScopedUtf8Locale locale;
  Extractor x(impl_->a, impl_->name, dest_fd, options);
  archive_entry* e = impl_->first;
  impl_->first = nullptr;
  while (true) {
    KILN_RETURN_IF_ERROR(x.Entry(e));
    int r = archive_read_next_header(impl_->a, &e);
    if (r == ARCHIVE_EOF) break;
    if (r != ARCHIVE_OK && r != ARCHIVE_WARN) {
      return absl::DataLossError(absl::StrCat("read archive '", impl_->name,
                                              "': ", archive_error_string(impl_->a)));
    }
  }
  KILN_RETURN_IF_ERROR(x.FinishDirs());
  return x.stats();
}

}  // namespace kiln::engine
