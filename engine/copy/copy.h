// CopyFiles: the filesystem half of COPY/ADD, with Docker's rules.
//
// Sources are paths (wildcards allowed) inside a source root; the destination is a path inside
// a destination root. Both roots are directory fds and every path is resolved with
// openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS), so neither a hostile context nor a hostile
// stage can make the copy read or write outside its root. Symlinks inside copied trees are
// copied as symlinks, never followed.
//
// Rules (Docker's documented COPY behaviour):
// - A directory source copies its contents, not the directory itself.
// - A file source lands at dest/<basename> when dest ends with '/' or is an existing
//   directory, else at dest itself.
// - Several sources (directly or through a wildcard) need a directory destination; a dest that
//   neither ends with '/' nor exists as a directory is an InvalidArgument error.
// - Missing destination directories are created (0755).
// - Ownership is --chown's uid:gid if given, else the source's (COPY --from) or 0:0 (context).
//   Mode is --chmod's if given (octal, or symbolic applied to the source's mode), else the
//   source's. Mtimes are kept. --chmod applies to files and directories, never symlinks.
// - `exclude` (.dockerignore) sees paths relative to the source ROOT and a named source it
//   excludes is NotFound; `exclude_in_source` (--exclude) sees paths relative to each copied
//   source and never the source itself (BuildKit's ExcludePatterns).
// - `include` (COPY --parents): only entries it accepts are copied, each with its parent
//   directories, which are created (with the source directories' metadata) only when
//   something below them is copied.
// - `auto_extract` (ADD): a source that is a tar archive (plain, gzip, bzip2, xz or zstd,
//   detected by content) is unpacked into dest (archive_extract.h) instead of copied.
// Thread-compatible: independent calls may run concurrently.
#ifndef KILN_ENGINE_COPY_COPY_H_
#define KILN_ENGINE_COPY_COPY_H_

#include <sys/stat.h>
#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/copy/copy_mode.h"

namespace kiln::engine {

// COPY --parents: which entries below a copied source are selected (paths relative to it).
struct CopyInclude {
  // True when `rel` is selected (it or one of its parent directories matches).
  std::function<bool(std::string_view rel)> match;
  // True when something below directory `rel` could be selected (else the walk skips it).
  std::function<bool(std::string_view rel)> may_contain;
};

struct CopyOptions {
  std::vector<std::string> sources;  // relative to the source root; may contain * ? [..]
  std::string dest;                  // absolute in the dest root; a trailing '/' matters
  bool allow_wildcards = true;
  bool allow_empty_wildcard = false;  // a wildcard matching nothing is then not an error
  std::optional<uid_t> uid;           // --chown
  std::optional<gid_t> gid;
  std::optional<mode_t> mode;         // numeric --chmod (permission bits)
  std::optional<ChmodSpec> chmod;     // symbolic --chmod (wins over `mode`)
  bool preserve_owner = false;        // keep source uid/gid when no --chown (COPY --from)
  bool follow_source_symlinks = true;  // resolve a symlink named as a source (inside the root)
  // Returns true to leave `rel` (path relative to the source root, no leading '/') out.
  // exclude(rel, true) for a directory: skip its whole subtree; exclude(rel, false): `rel`
  // itself is left out, whatever its type (an excluded directory that is not skipped is
  // created only when something below it is copied: copy_selection.h).
  std::function<bool(std::string_view rel, bool is_dir)> exclude;
  // Like `exclude`, with `rel` relative to each copied source (--exclude).
  std::function<bool(std::string_view rel, bool is_dir)> exclude_in_source;
  std::optional<CopyInclude> include;  // COPY --parents
  bool auto_extract = false;           // ADD: unpack tar archives (see above)
  // Incremental copy (the caller placed some files in the destination beforehand). Called on
  // the walking thread once for every entry a directory walk is about to write, before
  // anything is written at `dst_rel` (relative to the dest root, no leading '/'), with the
  // source's stat. True means a regular file identical to what the copy would write is
  // already at `dst_rel`: the walk counts it and leaves it untouched. False means the walk
  // writes the entry as usual, replacing whatever is there.
  std::function<bool(const std::string& dst_rel, const struct stat& src)> reuse;
  // Called on the walking thread for every single-linked regular file a directory walk
  // copies or reuses: where it went, where it came from (relative to the source root).
  std::function<void(const std::string& dst_rel, const std::string& src_rel,
                     const struct stat& src)>
      on_regular;
};

struct CopyStats {
  int64_t files = 0;
  int64_t dirs = 0;
  int64_t symlinks = 0;
  int64_t bytes = 0;
  int64_t archives = 0;  // sources unpacked (auto_extract)
};

// Errors: NotFound when a source does not exist, InvalidArgument for rule violations,
// PermissionDenied / others from errno as "copy '<path>': <cause>".
absl::StatusOr<CopyStats> CopyFiles(int src_root_fd, int dst_root_fd, const CopyOptions& opts);

// Creates `path` (absolute, inside the root) and its missing parents with `mode`, owned by
// uid:gid when given. Used for WORKDIR. Existing directories are left as they are.
absl::Status MakeDirs(int root_fd, std::string_view path, mode_t mode,
                      std::optional<uid_t> uid = std::nullopt,
                      std::optional<gid_t> gid = std::nullopt);

// Digest of what CopyFiles would read for `opts.sources` (after wildcards, excludes and
// includes): per entry its path relative to the source root, type, permission bits, uid/gid
// (only when opts.preserve_owner), symlink target and content hash (XXH3-128), in a fixed
// order; never mtimes. An archive is hashed as the file it is. `content_hash` computes a file's content hash from an open fd and its stat (so a
// caller can plug in a persisted stat-keyed cache); null means read and hash the bytes.
// `entries`, when given, receives the path (relative to the source root) of every entry
// hashed, in order (what the copy writes; for tests).
using ContentHashFn = std::function<absl::StatusOr<std::string>(int fd, const struct stat& st)>;
absl::StatusOr<std::string> HashSources(int src_root_fd, const CopyOptions& opts,
                                        const ContentHashFn& content_hash = nullptr,
                                        std::vector<std::string>* entries = nullptr);

// Expands the wildcards of `pattern` (relative to the root) to the matching relative paths,
// sorted. A pattern without wildcards yields itself if it exists. NotFound if nothing matches.
absl::StatusOr<std::vector<std::string>> ExpandWildcards(int root_fd, std::string_view pattern);

}  // namespace kiln::engine

#endif  // KILN_ENGINE_COPY_COPY_H_
