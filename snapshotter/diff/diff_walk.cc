#include "snapshotter/diff/diff_walk.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "base/status.h"
#include "base/unique_fd.h"
#include "snapshotter/diff/fs_util.h"

namespace kiln::snapshotter::internal {
namespace {

constexpr size_t kReadChunk = size_t{1} << 20;

bool IsOverlayXattr(const std::string& key) {
  return absl::StartsWith(key, "trusted.overlay.") || absl::StartsWith(key, "user.overlay.");
}

bool HasOverlayXattr(const Xattrs& xs, const char* suffix, const char* value) {
  for (const auto& [k, v] : xs) {
    if (!IsOverlayXattr(k)) continue;
    std::string_view rest(k);
    rest.remove_prefix(rest.find(".overlay.") + 9);
    if (rest == suffix && (value == nullptr || v == value)) return true;
  }
  return false;
}

std::string Join(const std::string& rel, const std::string& name) {
  return rel.empty() ? name : rel + "/" + name;
}

struct Child {
  std::string key;   // name as written in the tar (sort key)
  std::string name;  // name on disk
  bool whiteout = false;
  bool in_lower = false;
};

class Walker {
 public:
  Walker(const WalkOptions& o, TarWriter* out, bool overlay)
      : options_(o), out_(out), overlay_(overlay), buf_(kReadChunk, '\0') {}

  absl::Status Run(const std::string& lower, const std::string& upper) {
    int ufd = ::open(upper.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (ufd < 0) return base::ErrnoError("open layer directory '" + upper + "'");
    base::UniqueFd upper_fd(ufd);
    base::UniqueFd lower_fd;
    if (!lower.empty()) {
      int lfd = ::open(lower.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (lfd < 0) return base::ErrnoError("open lower directory '" + lower + "'");
      lower_fd.reset(lfd);
    }
    return WalkDir(lower_fd.get(), upper_fd.get(), "");
  }

 private:
  absl::StatusOr<std::vector<Child>> Children(int lowerfd, int upperfd, const std::string& rel);
  absl::Status WalkDir(int lowerfd, int upperfd, const std::string& rel);
  absl::Status VisitBoth(int lowerfd, int upperfd, const Child& c, const std::string& path);
  absl::StatusOr<bool> Changed(int lowerfd, int upperfd, const std::string& name,
                               const std::string& path, const struct stat& l, const struct stat& u);
  absl::StatusOr<bool> ContentDiffers(int lowerfd, int upperfd, const std::string& name,
                                      const std::string& path);
  absl::StatusOr<TarEntry> MakeEntry(int dirfd, const std::string& name, const std::string& path,
                                     const struct stat& st);
  absl::Status Emit(int dirfd, const std::string& name, const std::string& path,
                    const struct stat& st);
  absl::Status EmitSubtree(int upperfd, const std::string& name, const std::string& path,
                           const struct stat& st);
  absl::Status EmitWhiteout(const std::string& dir, const std::string& name);
  absl::Status WriteEntry(const TarEntry& e);
  absl::Status WriteFileData(int dirfd, const std::string& name, const std::string& path,
                             int64_t size);

  int64_t Clamp(int64_t t) const {
    if (options_.source_date_epoch && t > *options_.source_date_epoch) {
      return *options_.source_date_epoch;
    }
    return t;
  }

  const WalkOptions& options_;
  TarWriter* out_;
  bool overlay_;
  std::string buf_;
  std::string buf2_;
  std::vector<TarEntry> pending_;  // unchanged ancestors not yet written
  std::map<std::pair<dev_t, ino_t>, std::string> links_;
};

absl::StatusOr<std::vector<Child>> Walker::Children(int lowerfd, int upperfd,
                                                    const std::string& rel) {
  std::string what = rel.empty() ? "." : rel;
  KILN_ASSIGN_OR_RETURN(std::vector<std::string> unames, ListDir(upperfd, what));
  std::vector<std::string> lnames;
  if (lowerfd >= 0) {
    KILN_ASSIGN_OR_RETURN(lnames, ListDir(lowerfd, what));
  }
  std::vector<Child> out;
  out.reserve(unames.size());
  for (const std::string& n : unames) {
    bool in_lower = std::binary_search(lnames.begin(), lnames.end(), n);
    out.push_back(Child{n, n, false, in_lower});
  }
  for (const std::string& n : lnames) {
    if (!std::binary_search(unames.begin(), unames.end(), n)) {
      out.push_back(Child{kWhiteoutPrefix + n, n, true, true});
    }
  }
  std::sort(out.begin(), out.end(), [](const Child& a, const Child& b) { return a.key < b.key; });
  return out;
}

absl::Status Walker::WalkDir(int lowerfd, int upperfd, const std::string& rel) {
  KILN_ASSIGN_OR_RETURN(std::vector<Child> children, Children(lowerfd, upperfd, rel));
  if (overlay_) {
    // Overlay whiteouts sort by their tar name (".wh.<name>").
    for (Child& c : children) {
      KILN_ASSIGN_OR_RETURN(struct stat st, StatAt(upperfd, c.name, Join(rel, c.name)));
      bool wh = S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0);
      if (!wh && S_ISREG(st.st_mode) && st.st_size == 0) {
        std::string v;
        wh = GetXattrAt(upperfd, c.name, "trusted.overlay.whiteout", &v) ||
             GetXattrAt(upperfd, c.name, "user.overlay.whiteout", &v);
      }
      if (wh) {
        c.whiteout = true;
        c.key = kWhiteoutPrefix + c.name;
      }
    }
    std::sort(children.begin(), children.end(),
              [](const Child& a, const Child& b) { return a.key < b.key; });
  }
  for (const Child& c : children) {
    std::string path = Join(rel, c.name);
    if (c.whiteout) {
      KILN_RETURN_IF_ERROR(EmitWhiteout(rel, c.name));
      continue;
    }
    KILN_ASSIGN_OR_RETURN(struct stat st, StatAt(upperfd, c.name, path));
    if (c.in_lower && !overlay_) {
      KILN_RETURN_IF_ERROR(VisitBoth(lowerfd, upperfd, c, path));
    } else {
      KILN_RETURN_IF_ERROR(EmitSubtree(upperfd, c.name, path, st));
    }
  }
  return absl::OkStatus();
}

absl::Status Walker::VisitBoth(int lowerfd, int upperfd, const Child& c, const std::string& path) {
  KILN_ASSIGN_OR_RETURN(struct stat u, StatAt(upperfd, c.name, path));
  KILN_ASSIGN_OR_RETURN(struct stat l, StatAt(lowerfd, c.name, path));
  bool both_dirs = S_ISDIR(u.st_mode) && S_ISDIR(l.st_mode);
  if (!both_dirs) {
    if ((u.st_mode & S_IFMT) == (l.st_mode & S_IFMT)) {
      KILN_ASSIGN_OR_RETURN(bool changed, Changed(lowerfd, upperfd, c.name, path, l, u));
      if (!changed) {
        // Already present below this layer: later new links to the inode can point at it.
        if (u.st_nlink > 1) links_.emplace(std::make_pair(u.st_dev, u.st_ino), path);
        return absl::OkStatus();
      }
    }
    return EmitSubtree(upperfd, c.name, path, u);
  }
  KILN_ASSIGN_OR_RETURN(bool changed, Changed(lowerfd, upperfd, c.name, path, l, u));
  if (changed) {
    KILN_RETURN_IF_ERROR(Emit(upperfd, c.name, path, u));
  } else {
    KILN_ASSIGN_OR_RETURN(TarEntry e, MakeEntry(upperfd, c.name, path, u));
    pending_.push_back(std::move(e));
  }
  KILN_ASSIGN_OR_RETURN(base::UniqueFd usub, OpenDirAt(upperfd, c.name));
  KILN_ASSIGN_OR_RETURN(base::UniqueFd lsub, OpenDirAt(lowerfd, c.name));
  KILN_RETURN_IF_ERROR(WalkDir(lsub.get(), usub.get(), path));
  if (!pending_.empty() && pending_.back().path == path) pending_.pop_back();
  return absl::OkStatus();
}

absl::StatusOr<bool> Walker::Changed(int lowerfd, int upperfd, const std::string& name,
                                     const std::string& path, const struct stat& l,
                                     const struct stat& u) {
  if (l.st_mode != u.st_mode || l.st_uid != u.st_uid || l.st_gid != u.st_gid) return true;
  if (l.st_mtim.tv_sec != u.st_mtim.tv_sec || l.st_mtim.tv_nsec != u.st_mtim.tv_nsec) return true;
  if (S_ISREG(u.st_mode) && l.st_size != u.st_size) return true;
  if ((S_ISCHR(u.st_mode) || S_ISBLK(u.st_mode)) && l.st_rdev != u.st_rdev) return true;
  if (S_ISLNK(u.st_mode)) {
    KILN_ASSIGN_OR_RETURN(std::string lt, ReadLinkAt(lowerfd, name, path));
    KILN_ASSIGN_OR_RETURN(std::string ut, ReadLinkAt(upperfd, name, path));
    if (lt != ut) return true;
  }
  KILN_ASSIGN_OR_RETURN(Xattrs lx, ListXattrsAt(lowerfd, name, path));
  KILN_ASSIGN_OR_RETURN(Xattrs ux, ListXattrsAt(upperfd, name, path));
  if (lx != ux) return true;
  bool same_inode = l.st_dev == u.st_dev && l.st_ino == u.st_ino;
  if (S_ISREG(u.st_mode) && !same_inode &&
      (u.st_mtim.tv_nsec == 0 || options_.always_compare_content)) {
    return ContentDiffers(lowerfd, upperfd, name, path);
  }
  return false;
}

absl::StatusOr<bool> Walker::ContentDiffers(int lowerfd, int upperfd, const std::string& name,
                                            const std::string& path) {
  int lfd = ::openat(lowerfd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (lfd < 0) return base::ErrnoError("open lower '" + path + "'");
  base::UniqueFd lower(lfd);
  int ufd = ::openat(upperfd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (ufd < 0) return base::ErrnoError("open '" + path + "'");
  base::UniqueFd upper(ufd);
  buf2_.resize(kReadChunk);
  for (;;) {
    ssize_t a = ::read(lower.get(), buf_.data(), buf_.size());
    if (a < 0) return base::ErrnoError("read lower '" + path + "'");
    size_t got = 0;
    while (got < static_cast<size_t>(a)) {
      ssize_t b = ::read(upper.get(), buf2_.data() + got, static_cast<size_t>(a) - got);
      if (b < 0) return base::ErrnoError("read '" + path + "'");
      if (b == 0) return true;
      got += static_cast<size_t>(b);
    }
    if (std::memcmp(buf_.data(), buf2_.data(), got) != 0) return true;
    if (a == 0) {
      char extra;
      return ::read(upper.get(), &extra, 1) > 0;
    }
  }
}

absl::StatusOr<TarEntry> Walker::MakeEntry(int dirfd, const std::string& name,
                                           const std::string& path, const struct stat& st) {
  TarEntry e;
  e.path = path;
  e.mode = st.st_mode & 07777;
  e.uid = st.st_uid;
  e.gid = st.st_gid;
  e.mtime = Clamp(st.st_mtim.tv_sec);
  switch (st.st_mode & S_IFMT) {
    case S_IFREG:
      e.type = EntryType::kFile;
      e.size = st.st_size;
      break;
    case S_IFDIR:
      e.type = EntryType::kDir;
      break;
    case S_IFLNK: {
      e.type = EntryType::kSymlink;
      KILN_ASSIGN_OR_RETURN(e.linkname, ReadLinkAt(dirfd, name, path));
      break;
    }
    case S_IFCHR:
    case S_IFBLK:
      e.type = S_ISCHR(st.st_mode) ? EntryType::kChar : EntryType::kBlock;
      e.devmajor = major(st.st_rdev);
      e.devminor = minor(st.st_rdev);
      break;
    case S_IFIFO:
      e.type = EntryType::kFifo;
      break;
    default:
      return absl::UnimplementedError("socket");  // caller skips
  }
  KILN_ASSIGN_OR_RETURN(Xattrs xs, ListXattrsAt(dirfd, name, path));
  if (overlay_ &&
      (HasOverlayXattr(xs, "redirect", nullptr) || HasOverlayXattr(xs, "metacopy", nullptr))) {
    return absl::FailedPreconditionError("diff upperdir entry '" + path +
                                         "': overlay redirect/metacopy entries are unsupported");
  }
  for (auto& kv : xs) {
    if (!IsOverlayXattr(kv.first)) e.xattrs.push_back(std::move(kv));
  }
  return e;
}

absl::Status Walker::Emit(int dirfd, const std::string& name, const std::string& path,
                          const struct stat& st) {
  if (S_ISSOCK(st.st_mode)) return absl::OkStatus();
  KILN_ASSIGN_OR_RETURN(TarEntry e, MakeEntry(dirfd, name, path, st));
  if (!S_ISDIR(st.st_mode) && st.st_nlink > 1) {
    auto [it, inserted] = links_.emplace(std::make_pair(st.st_dev, st.st_ino), path);
    if (!inserted) {
      e.type = EntryType::kHardlink;
      e.linkname = it->second;
      e.size = 0;
      e.devmajor = e.devminor = 0;
      return WriteEntry(e);
    }
  }
  KILN_RETURN_IF_ERROR(WriteEntry(e));
  if (e.type == EntryType::kFile) return WriteFileData(dirfd, name, path, e.size);
  return absl::OkStatus();
}

absl::Status Walker::EmitSubtree(int upperfd, const std::string& name, const std::string& path,
                                 const struct stat& st) {
  KILN_RETURN_IF_ERROR(Emit(upperfd, name, path, st));
  if (!S_ISDIR(st.st_mode)) return absl::OkStatus();
  if (overlay_) {
    std::string v;
    bool opaque = (GetXattrAt(upperfd, name, "trusted.overlay.opaque", &v) && v == "y") ||
                  (GetXattrAt(upperfd, name, "user.overlay.opaque", &v) && v == "y");
    if (opaque) {
      TarEntry o;
      o.path = path + "/" + kOpaqueWhiteout;
      o.mode = 0;
      KILN_RETURN_IF_ERROR(WriteEntry(o));
    }
  }
  KILN_ASSIGN_OR_RETURN(base::UniqueFd sub, OpenDirAt(upperfd, name));
  return WalkDir(-1, sub.get(), path);
}

absl::Status Walker::EmitWhiteout(const std::string& dir, const std::string& name) {
  TarEntry e;
  e.path = Join(dir, kWhiteoutPrefix + name);
  e.mode = 0;
  return WriteEntry(e);
}

absl::Status Walker::WriteEntry(const TarEntry& e) {
  for (const TarEntry& p : pending_) KILN_RETURN_IF_ERROR(out_->WriteHeader(p));
  pending_.clear();
  return out_->WriteHeader(e);
}

absl::Status Walker::WriteFileData(int dirfd, const std::string& name, const std::string& path,
                                   int64_t size) {
  int fd = ::openat(dirfd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return base::ErrnoError("open '" + path + "'");
  base::UniqueFd file(fd);
  for (int64_t left = size; left > 0;) {
    absl::StatusOr<size_t> n = out_->ReadDataFrom(file.get());
    if (!n.ok()) return base::Annotate(n.status(), "archive '" + path + "'");
    if (*n == 0) {
      return absl::FailedPreconditionError("read '" + path + "': file shrank while archiving");
    }
    left -= static_cast<int64_t>(*n);
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status WalkUpperDir(const std::string& upperdir, const WalkOptions& options, TarWriter* out) {
  Walker w(options, out, /*overlay=*/true);
  return w.Run("", upperdir);
}

absl::Status WalkTrees(const std::string& lower, const std::string& upper,
                       const WalkOptions& options, TarWriter* out) {
  Walker w(options, out, /*overlay=*/false);
  return w.Run(lower, upper);
}

}  // namespace kiln::snapshotter::internal
