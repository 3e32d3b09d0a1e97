// HashSources: the content digest of what CopyFiles would read (the COPY cache key input).
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "base/digest.h"
#include "base/status.h"
#include "base/unique_fd.h"
#include "engine/copy/copy.h"
#include "engine/copy/copy_paths.h"
#include "engine/copy/copy_selection.h"

namespace kiln::engine {
namespace {

using base::ErrnoError;
using base::UniqueFd;
using internal::Components;
using internal::Join;
using internal::JoinRel;
using internal::OpenInRoot;

struct Hasher {
  const CopyOptions& opts;
  const CopySelection& selection;
  const ContentHashFn& content_hash;
  std::vector<std::string>* record;  // optional: every entry hashed
  base::Sha256 sha;
  std::string base;  // the top-level source being hashed (exclude_in_source / include root)
  // Lazy directories on the way down (CopySelection): hashed only when an entry below is.
  struct PendingDir {
    std::string rel;
    struct stat st;
    bool hashed = false;
  };
  std::vector<PendingDir> pending;

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
      if (n < 0) return ErrnoError(absl::StrCat("read '", rel, "'"));
      if (n == 0) break;
      h.Update(buf, static_cast<size_t>(n));
    }
    return h.Finish().hex();
  }

  void Meta(const struct stat& st) {
    Field(absl::StrCat(st.st_mode & S_IFMT, " ", st.st_mode & 07777));
    if (opts.preserve_owner) Field(absl::StrCat(st.st_uid, ":", st.st_gid));
  }

  // The header of an entry (path and metadata), after those of the lazy directories above it
  // that are not hashed yet: the same bytes as if they had been hashed on the way down.
  void Header(const std::string& rel, const struct stat& st) {
    for (PendingDir& p : pending) {
      if (p.hashed) continue;
      p.hashed = true;
      Field(p.rel);
      Meta(p.st);
      if (record != nullptr) record->push_back(p.rel);
    }
    Field(rel);
    Meta(st);
    if (record != nullptr) record->push_back(rel);
  }

  absl::Status Entry(int dir_fd, const std::string& name, const std::string& rel,
                     CopySelection::Decision decision) {
    struct stat st;
    if (::fstatat(dir_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      return ErrnoError(absl::StrCat("stat '", rel, "'"));
    }
    if (S_ISDIR(st.st_mode)) {
      UniqueFd fd(::openat(dir_fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (!fd) return ErrnoError(absl::StrCat("open '", rel, "'"));
      if (!decision.lazy) {
        Header(rel, st);
        return Dir(fd.get(), rel, decision.selected);
      }
      pending.push_back(PendingDir{rel, st});
      absl::Status s = Dir(fd.get(), rel, decision.selected);
      pending.pop_back();
      return s;
    }
    Header(rel, st);
    if (S_ISREG(st.st_mode)) {
      UniqueFd fd(::openat(dir_fd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
      if (!fd) return ErrnoError(absl::StrCat("open '", rel, "'"));
      KILN_ASSIGN_OR_RETURN(std::string h, HashFd(fd.get(), st, rel));
      Field(h);
    } else if (S_ISLNK(st.st_mode)) {
      char target[4096];
      ssize_t n = ::readlinkat(dir_fd, name.c_str(), target, sizeof target);
      if (n < 0) return ErrnoError(absl::StrCat("readlink '", rel, "'"));
      Field(std::string_view(target, static_cast<size_t>(n)));
    } else {
      Field(absl::StrCat(major(st.st_rdev), ":", minor(st.st_rdev)));
    }
    return absl::OkStatus();
  }

  // Walks what the copy walker copies (the same CopySelection decisions, in name order).
  // Directories walked only for --parents or exceptions are hashed when something below is
  // (their metadata lands on the parents the copy creates).
  absl::Status Dir(int fd, const std::string& rel, bool selected) {
    int dup_fd = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
    DIR* d = dup_fd >= 0 ? ::fdopendir(dup_fd) : nullptr;
    if (d == nullptr) {
      if (dup_fd >= 0) ::close(dup_fd);
      return ErrnoError(absl::StrCat("read dir '", rel, "'"));
    }
    ::rewinddir(d);
    std::vector<std::string> names;
    while (struct dirent* e = ::readdir(d)) {
      std::string n = e->d_name;
      if (n != "." && n != "..") names.push_back(std::move(n));
    }
    ::closedir(d);
    std::sort(names.begin(), names.end());
    const bool filtered = selection.Filtered(selected);
    for (const std::string& n : names) {
      std::string child = JoinRel(rel, n);
      CopySelection::Decision decision{true, false, selected};
      if (filtered) {
        struct stat st;
        bool is_dir =
            ::fstatat(fd, n.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
        decision = selection.Decide(child, base, is_dir, selected);
        if (!decision.take) continue;
      }
      KILN_RETURN_IF_ERROR(Entry(fd, n, child, decision));
    }
    return absl::OkStatus();
  }
};

}  // namespace

absl::StatusOr<std::string> HashSources(int src_root_fd, const CopyOptions& opts,
                                        const ContentHashFn& content_hash,
                                        std::vector<std::string>* entries) {
  CopySelection selection(opts);
  Hasher h{opts, selection, content_hash, entries, {}, {}, {}};
  h.Field("kiln.copy-sources.v1");
  KILN_ASSIGN_OR_RETURN(std::vector<std::string> matches, selection.Sources(src_root_fd));
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
    KILN_RETURN_IF_ERROR(selection.CheckSource(rel, st));
    h.Field(absl::StrCat("source:", rel));
    h.base = rel;
    if (S_ISDIR(st.st_mode)) {
      UniqueFd dir(OpenInRoot(src_root_fd, rel, O_RDONLY | O_DIRECTORY | nofollow));
      if (!dir) return ErrnoError(absl::StrCat("open source dir '", rel, "'"));
      KILN_RETURN_IF_ERROR(h.Dir(dir.get(), rel, !opts.include));
    } else if (S_ISREG(st.st_mode)) {
      UniqueFd in(OpenInRoot(src_root_fd, rel, O_RDONLY | nofollow));
      if (!in) return ErrnoError(absl::StrCat("open source '", rel, "'"));
      h.Meta(st);
      if (entries != nullptr) entries->push_back(rel);
      KILN_ASSIGN_OR_RETURN(std::string ch, h.HashFd(in.get(), st, rel));
      h.Field(ch);
    } else {
      std::vector<std::string> sc = Components(rel);
      UniqueFd parent(OpenInRoot(src_root_fd, Join(sc, sc.size() - 1), O_RDONLY | O_DIRECTORY));
      if (!parent) return ErrnoError(absl::StrCat("open parent of '", rel, "'"));
      KILN_RETURN_IF_ERROR(h.Entry(parent.get(), sc.back(), rel, {true, false, true}));
    }
  }
  return h.sha.Finish().hex();
}

}  // namespace kiln::engine
