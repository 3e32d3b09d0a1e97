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
#include "engine/ops/copy.h"
#include "engine/ops/copy_paths.h"

namespace kiln::engine {
namespace {

using base::ErrnoError;
using base::UniqueFd;
using internal::Components;
using internal::HasGlob;
using internal::Join;
using internal::JoinRel;
using internal::OpenInRoot;

struct Hasher {
  const CopyOptions& opts;
  const ContentHashFn& content_hash;
  base::Sha256 sha;
  std::string base;  // the top-level source being hashed (exclude_in_source / include root)

  void Field(std::string_view s) {
    uint64_t n = s.size();
    sha.Update(&n, sizeof n);
    sha.Update(s);
  }

  std::string SourceRel(const std::string& rel) const {
    if (base.empty()) return rel;
    return rel.size() > base.size() && rel.compare(0, base.size(), base) == 0 &&
                   rel[base.size()] == '/'
               ? rel.substr(base.size() + 1)
               : rel;
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

  absl::Status Entry(int dir_fd, const std::string& name, const std::string& rel, bool selected) {
    struct stat st;
    if (::fstatat(dir_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      return ErrnoError(absl::StrCat("stat '", rel, "'"));
    }
    Field(rel);
    Meta(st);
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
    } else if (S_ISDIR(st.st_mode)) {
      UniqueFd fd(::openat(dir_fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (!fd) return ErrnoError(absl::StrCat("open '", rel, "'"));
      return Dir(fd.get(), rel, selected);
    } else {
      Field(absl::StrCat(major(st.st_rdev), ":", minor(st.st_rdev)));
    }
    return absl::OkStatus();
  }

  // Mirrors CopyWalker::CopyDirContents' filters. Directories walked only for --parents are
  // hashed too (their metadata lands on the parents it creates).
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
    const bool filtered = opts.exclude || opts.exclude_in_source || (opts.include && !selected);
    for (const std::string& n : names) {
      std::string child = JoinRel(rel, n);
      bool child_selected = selected;
      if (filtered) {
        struct stat st;
        bool is_dir = ::fstatat(fd, n.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
        if (opts.exclude && opts.exclude(child, is_dir)) continue;
        std::string srel = SourceRel(child);
        if (opts.exclude_in_source && opts.exclude_in_source(srel, is_dir)) continue;
        if (!selected && opts.include) {
          child_selected = opts.include->match(srel);
          if (!child_selected && !(is_dir && opts.include->may_contain(srel))) continue;
        }
      }
      KILN_RETURN_IF_ERROR(Entry(fd, n, child, child_selected));
    }
    return absl::OkStatus();
  }
};

}  // namespace

absl::StatusOr<std::string> HashSources(int src_root_fd, const CopyOptions& opts,
                                        const ContentHashFn& content_hash) {
  Hasher h{opts, content_hash, {}, {}};
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
      matches.push_back(internal::Clean(src));
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
      h.base = rel;
      if (S_ISDIR(st.st_mode)) {
        UniqueFd dir(OpenInRoot(src_root_fd, rel, O_RDONLY | O_DIRECTORY | nofollow));
        if (!dir) return ErrnoError(absl::StrCat("open source dir '", rel, "'"));
        KILN_RETURN_IF_ERROR(h.Dir(dir.get(), rel, !opts.include));
      } else if (S_ISREG(st.st_mode)) {
        UniqueFd in(OpenInRoot(src_root_fd, rel, O_RDONLY | nofollow));
        if (!in) return ErrnoError(absl::StrCat("open source '", rel, "'"));
        h.Meta(st);
        KILN_ASSIGN_OR_RETURN(std::string ch, h.HashFd(in.get(), st, rel));
        h.Field(ch);
      } else {
        std::vector<std::string> sc = Components(rel);
        UniqueFd parent(OpenInRoot(src_root_fd, Join(sc, sc.size() - 1), O_RDONLY | O_DIRECTORY));
        if (!parent) return ErrnoError(absl::StrCat("open parent of '", rel, "'"));
        KILN_RETURN_IF_ERROR(h.Entry(parent.get(), sc.back(), rel, true));
      }
    }
  }
  return h.sha.Finish().hex();
}

}  // namespace kiln::engine
