// ChecksumCache: per-build-context content checksums that survive restarts, so a rebuild only
// reads files whose stat changed.
//
// For every regular file it remembers (dev, inode, size, mtime ns, ctime ns, mode) -> XXH3-128
// of the content, keyed by the file's path relative to the context root. Checksum() walks a
// selection of paths with fds only (openat2 RESOLVE_IN_ROOT for the selected path's parent,
// then fstatat/openat with O_NOFOLLOW relative to directory fds; symlinks are never followed),
// in parallel on a private thread pool: a no-op pass is one readdir per directory plus one
// fstatat per entry, and no file is opened.
//
// Entry digest (what a COPY cache key covers), XXH3-128 over, little-endian:
//   u32 len(path) path, u8 type, u32 mode&07777, u32 uid, u32 gid (0, 0 without
//   ChecksumCacheOptions::hash_ownership), then by type:
//   'f': 16-byte content hash (high, low) · 'l': u32 len(target) target · 'c'/'b': u64 rdev
// Never mtime. Combined digest: XXH3-128 over the entry digests in path order.
//
// Racy-clean handling (as git does for its index): coarse kernel timestamps mean a file
// rewritten with the same size within one timestamp tick of being hashed keeps identical
// mtime AND ctime. So a hash is only trusted later if the file's mtime and ctime were older
// than (hash time - racy_window) when it was read; otherwise the entry is marked racy and is
// read again on the next pass (then it is old enough to be trusted). Any change of size,
// mtime, ctime, inode, device or mode re-reads the file; same-size same-mtime edits are caught
// through ctime (which user space cannot set back).
//
// Persistence: Save() writes the state file atomically (temp, fsync, rename) when changed; a
// missing or corrupt state file (checked by a trailing XXH3-128) starts an empty cache.
// Thread-safe; passes on one cache are serialized. Errors: NotFound (a selected path does not
// exist or is excluded), InvalidArgument (bad selection), errno-derived codes otherwise; the
// error names the relative path: "checksum 'src/a.c': ...".
#ifndef KILN_CACHE_CHECKSUM_CACHE_H_
#define KILN_CACHE_CHECKSUM_CACHE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "base/digest.h"

namespace kiln::cache {

struct ChecksumEntry {
  std::string path;      // relative, '/'-separated, no leading "./"; "." is the root itself
  char type = 0;         // 'f' file, 'd' dir, 'l' symlink, 'p' fifo, 's' socket, 'c'/'b' device
  base::Xxh128 content;  // content hash for 'f', zero otherwise
  base::Xxh128 digest;   // entry digest (see above)
};

struct ChecksumResult {
  std::vector<ChecksumEntry> entries;  // sorted by path, unique
  base::Xxh128 combined;
};

struct ChecksumStats {
  int64_t files_stated = 0;  // fstatat calls on entries
  int64_t files_hashed = 0;  // regular files opened and read
  int64_t bytes_read = 0;
  int64_t dirs_read = 0;
};

// Returns true to leave `relpath` out. For a directory, true skips its whole subtree, so the
// predicate must only say so when nothing beneath it can be re-included (.dockerignore "!").
using ChecksumExcludeFn = std::function<bool(std::string_view relpath, bool is_dir)>;

struct ChecksumCacheOptions {
  size_t threads = 0;  // 0 = one per core
  absl::Duration racy_window = absl::Seconds(1);
  // false: entry digests hash uid and gid as 0. For a build context, whose owners on the
  // client never reach an image (COPY gives files to root or to --chown), so checkouts owned
  // by different users on different machines have the same keys.
  bool hash_ownership = true;
};

// The combined digest of `entries` (sorted by path): XXH3-128 over their entry digests in
// order. What Checksum() returns as `combined`; for callers that leave entries out.
base::Xxh128 CombineChecksumEntries(const std::vector<ChecksumEntry>& entries);

class ChecksumCache {
 public:
  // Loads `state_path` if present (its directory is created if missing).
  static absl::StatusOr<std::unique_ptr<ChecksumCache>> Open(
      const std::string& state_path, const ChecksumCacheOptions& options = {});
  virtual ~ChecksumCache() = default;

  // Digests the selection: each path (file or directory; directories recursed) relative to
  // `root_fd` (not owned; must stay open during the call). Paths are normalized lexically
  // ("a/./b", "/a", "a/../a" all mean "a"; ".." never climbs above the root). Overlapping
  // selections are merged. A selection containing the root also prunes cached entries of
  // files that no longer exist.
  virtual absl::StatusOr<ChecksumResult> Checksum(int root_fd,
                                                  const std::vector<std::string>& paths,
                                                  const ChecksumExcludeFn& exclude = nullptr) = 0;
  // Persists the state if it changed since the last Save/Open.
  virtual absl::Status Save() = 0;
  virtual ChecksumStats stats() const = 0;
  virtual void ResetStats() = 0;
  virtual size_t cached_files() const = 0;
};

}  // namespace kiln::cache

#endif  // KILN_CACHE_CHECKSUM_CACHE_H_
