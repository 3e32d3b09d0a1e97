// CopyReuse: incremental COPY from the build context.
//
// A COPY whose cache key changed because a few context files changed still has to produce a
// whole new snapshot, and copying 10,000 unchanged files into it costs most of a rebuild. When
// the same COPY (same op definition, same destination snapshot, same context directory) ran
// before, its result snapshot already holds every unchanged file, byte for byte and with the
// metadata this copy would give it. So before the copy, those files are hard-linked from the
// earlier result's layer into the new snapshot's (still unmounted) upper dir, and the copy
// walk leaves them alone (CopyOptions::reuse); it writes only what changed.
//
// Why that is safe:
//   - Committed snapshots never change, and every later writer goes through overlayfs, which
//     copies a file up before changing it. So a shared inode is never written again.
//   - A file is reused only when its source has the same identity as when the earlier result
//     was copied: same device, inode, size, mtime and ctime (no write can keep a ctime), same
//     mode and owner, one link, reached without any symlink. The earlier result's copy must
//     still be a regular file of that size and mtime, and every directory on its way a real
//     directory without overlay markers. Anything else is copied as usual.
//   - The walk checks the identity again when it reaches the file, so a source that changed in
//     between is copied, replacing the link.
// The memo of earlier results (a manifest per COPY) lives under `dir` and survives restarts; a
// missing, stale or corrupt manifest only means a full copy. Thread-safe.
#ifndef KILN_ENGINE_COPY_COPY_REUSE_H_
#define KILN_ENGINE_COPY_COPY_REUSE_H_

#include <sys/stat.h>

#include <atomic>
#include <cstdint>
#include <list>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace kiln::engine {

// What identifies a source file's content without reading it.
struct CopySourceId {
  uint64_t dev = 0, ino = 0;
  int64_t size = 0, mtime_ns = 0, ctime_ns = 0;
  uint32_t mode = 0, uid = 0, gid = 0;

  static CopySourceId Of(const struct stat& st);
  friend bool operator==(const CopySourceId&, const CopySourceId&) = default;
};

// The regular files one COPY wrote: destination path (relative to the root) <- source path
// (relative to the context) and the source's identity then.
struct CopyManifest {
  struct Entry {
    std::string dst_rel, src_rel;
    CopySourceId id;
  };
  std::string snapshot;  // the committed result
  std::vector<Entry> entries;
};

// Destination paths placed by Prelink, with the identity their source must still have.
using PrelinkedFiles = absl::flat_hash_map<std::string, CopySourceId>;

class CopyReuse {
 public:
  explicit CopyReuse(std::string dir) : dir_(std::move(dir)) {}

  // The memo key of a COPY from context dir `context_dir` onto snapshot `dest_parent`.
  static std::string KeyOf(const std::string& dest_parent, const std::string& context_dir,
                           const std::string& definition);

  // The last manifest recorded under `key`, from memory or disk; null if none (or corrupt).
  std::shared_ptr<const CopyManifest> Find(const std::string& key);
  // Replaces the manifest under `key` (in memory, and on disk without fsync: a torn file is
  // detected and ignored).
  // Keeps at most kMaxManifests on disk (the least recently written go first).
  absl::Status Record(const std::string& key, CopyManifest manifest);
  // Drops the manifest under `key` (its snapshot is gone).
  void Forget(const std::string& key);

  // Hard-links into `upper` (the new snapshot's unmounted upper dir) every file of `m` whose
  // source below `src_root` is unchanged, from `prev_layer` (the layer dir of m.snapshot),
  // creating the directories on the way with the earlier layer's metadata. Best effort: a file
  // that cannot be linked is left to the copy.
  static PrelinkedFiles Prelink(int src_root, const std::string& prev_layer,
                                const std::string& upper, const CopyManifest& m);

  // The CopyOptions::reuse predicate over `placed` (consumes the entries it is asked about).
  static bool Reusable(PrelinkedFiles& placed, const std::string& dst_rel,
                       const struct stat& src);

  // Files reused by Prelink in this process (for tests and benchmarks).
  static int64_t files_linked() { return files_linked_.load(); }

 private:
  static constexpr size_t kMemoryEntries = 16;
  static constexpr size_t kMaxManifests = 64;

  void TrimDisk(const std::string& keep);

  const std::string dir_;
  absl::Mutex mu_;
  // Most recently used first.
  std::list<std::pair<std::string, std::shared_ptr<const CopyManifest>>> recent_
      ABSL_GUARDED_BY(mu_);
  static std::atomic<int64_t> files_linked_;
};

}  // namespace kiln::engine

#endif  // KILN_ENGINE_COPY_COPY_REUSE_H_
