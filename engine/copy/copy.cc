#include "engine/copy/copy.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/status.h"
#include "base/unique_fd.h"
#include "engine/copy/archive_extract.h"
#include "engine/copy/copy_paths.h"
#include "engine/copy/copy_walker.h"

namespace kiln::engine {
namespace {

using base::ErrnoError;
using base::UniqueFd;
using internal::Components;
using internal::Join;
using internal::JoinRel;
using internal::OpenInRoot;

absl::Status MakeDirsImpl(int root, const std::vector<std::string>& comps, mode_t mode,
                          std::optional<uid_t> uid, std::optional<gid_t> gid, int depth = 0) {
  if (depth > 40) {
    return absl::InvalidArgumentError(
        absl::StrCat("mkdir '/", Join(comps), "': too many levels of symbolic links"));
  }
  for (size_t i = 1; i <= comps.size(); ++i) {
    std::string cur = Join(comps, i);
    UniqueFd fd(OpenInRoot(root, cur, O_PATH | O_DIRECTORY));
    if (fd) continue;
    if (errno == ENOTDIR) {
      return absl::InvalidArgumentError(
          absl::StrCat("mkdir '/", cur, "': a parent is not a directory"));
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

// ADD: unpacks `src_fd` into dest when it is a tar archive. False when it is not one.
absl::StatusOr<bool> TryExtract(int src_fd, const std::string& rel, int dst_root_fd,
                                const std::vector<std::string>& dest_comps,
                                const CopyOptions& opts, CopyStats* stats) {
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<TarArchive> archive, TarArchive::Open(src_fd, rel));
  if (archive == nullptr) return false;
  KILN_RETURN_IF_ERROR(MakeDirsImpl(dst_root_fd, dest_comps, 0755, opts.uid, opts.gid));
  std::string dest_rel = Join(dest_comps);
  UniqueFd dest(OpenInRoot(dst_root_fd, dest_rel, O_RDONLY | O_DIRECTORY));
  if (!dest) return ErrnoError(absl::StrCat("open destination '/", dest_rel, "'"));
  KILN_ASSIGN_OR_RETURN(CopyStats s, archive->ExtractTo(dest.get(), ExtractOptions{opts.uid, opts.gid}));
  stats->files += s.files;
  stats->dirs += s.dirs;
  stats->symlinks += s.symlinks;
  stats->bytes += s.bytes;
  ++stats->archives;
  return true;
}

}  // namespace

absl::Status MakeDirs(int root_fd, std::string_view path, mode_t mode, std::optional<uid_t> uid,
                      std::optional<gid_t> gid) {
  return MakeDirsImpl(root_fd, Components(path), mode, uid, gid);
}

absl::StatusOr<CopyStats> CopyFiles(int src_root_fd, int dst_root_fd, const CopyOptions& opts) {
  internal::CopyWalker w(opts);
  KILN_ASSIGN_OR_RETURN(std::vector<std::string> matches, w.selection().Sources(src_root_fd));
  if (matches.empty() && !opts.allow_empty_wildcard) {
    return absl::InvalidArgumentError("copy: no source files were specified");
  }
  std::vector<std::string> dest_comps = Components(opts.dest);
  std::string dest_rel = Join(dest_comps);
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
    KILN_RETURN_IF_ERROR(w.selection().CheckSource(rel, st));
    w.BeginSource(rel);
    if (S_ISDIR(st.st_mode)) {
      KILN_RETURN_IF_ERROR(MakeDirsImpl(dst_root_fd, dest_comps, 0755, opts.uid, opts.gid));
      UniqueFd in(OpenInRoot(src_root_fd, rel, O_RDONLY | O_DIRECTORY | nofollow));
      if (!in) return ErrnoError(absl::StrCat("open source dir '", rel, "'"));
      UniqueFd out(OpenInRoot(dst_root_fd, dest_rel, O_RDONLY | O_DIRECTORY));
      if (!out) return ErrnoError(absl::StrCat("open destination '/", dest_rel, "'"));
      KILN_RETURN_IF_ERROR(w.CopyDirContents(in.get(), rel, out.get(), dest_rel, !opts.include));
      continue;
    }
    if (opts.auto_extract && S_ISREG(st.st_mode)) {
      UniqueFd in(OpenInRoot(src_root_fd, rel, O_RDONLY | nofollow));
      if (!in) return ErrnoError(absl::StrCat("open source '", rel, "'"));
      KILN_ASSIGN_OR_RETURN(bool extracted,
                            TryExtract(in.get(), rel, dst_root_fd, dest_comps, opts, &w.stats()));
      if (extracted) continue;
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
        // Never reused (the file is rewritten), but whatever was placed there is forgotten.
        if (opts.reuse) (void)opts.reuse(JoinRel(parent_rel, name), st);
        KILN_RETURN_IF_ERROR(
            w.CopyRegular(in.get(), st, dst_dir.get(), name, JoinRel(parent_rel, name)));
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
  KILN_RETURN_IF_ERROR(w.Finish());
  return w.stats();
}

}  // namespace kiln::engine
