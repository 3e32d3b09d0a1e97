// LocalSnapshotter: the shared core of the on-disk snapshotters (overlay and native).
//
// Layout under the root directory (owned exclusively by one open snapshotter, enforced with
// flock on <root>/lock):
//   <root>/metadata.db        LMDB records (MetadataStore)
//   <root>/snapshots/<id>/    one directory per snapshot, named by a never-reused numeric id
//
// Crash safety: a snapshot's directory is created before its record, and its record is
// removed before its directory, each record change being one LMDB transaction. So after a
// kill at any point, a directory without a record is garbage, and Open deletes it; a record
// always has its directory. Commit writes any flattened copy first and then renames the
// record in one transaction; Open deletes half-written flattened copies.
//
// Machine crashes (power loss, kernel panic): layer contents are written by RUN steps and
// layer applies without fsync, so after a machine crash a snapshot's files may be lost or
// torn whatever its record says. By default (MetadataSync::kOnClose) no operation fsyncs;
// the root carries a session marker (session_marker.h) saying "open since boot B" while it is
// open, and closing flushes everything (syncfs, LMDB sync) before marking it "closed". Open
// after a machine crash (marker "open" from an earlier boot) discards every snapshot and
// starts empty: the root is a cache, and a discarded snapshot is rebuilt, never served torn.
// A killed process (same boot) loses nothing: the kernel still holds every write.
//
// Thread safety: all public methods are thread-safe. Long work (copying trees, flattening)
// runs without the lock; keys being prepared or committed are reserved meanwhile.
#ifndef KILN_SNAPSHOTTER_LOCAL_SNAPSHOTTER_H_
#define KILN_SNAPSHOTTER_LOCAL_SNAPSHOTTER_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "base/unique_fd.h"
#include "snapshotter/metadata.h"
#include "snapshotter/snapshotter.h"

namespace kiln::snapshotter {

enum class MetadataSync {
  // No fsync in Prepare/View/Commit/Remove (MDB_NOSYNC); flushed when the snapshotter is
  // destroyed; after a machine crash Open discards the root (see above).
  kOnClose,
  // fsync every metadata transaction (LMDB's default, two device flushes each): records
  // survive power loss, though the layer contents they describe are not fsynced.
  kEveryTransaction,
};

struct LocalSnapshotterOptions {
  // Overlay only: the most lower dirs one mount may stack. A commit that would make a chain
  // deeper flattens it. Clamped to [1, base::kMaxOverlayLowerDirs - 1].
  int max_lower_dirs = 128;
  MetadataSync metadata_sync = MetadataSync::kOnClose;
  // Test seam: the boot id the session marker records and compares ("" = the kernel's).
  std::string boot_id;
  // Open removes active snapshots and views left by a previous process (for a daemon that
  // owns every snapshot it did not commit). Default: keep them, as containerd does.
  bool discard_uncommitted_on_open = false;
  // Test seam: called at named points ("prepare.dirs_created", "commit.before_txn",
  // "remove.record_deleted") so tests can kill the process there. May be empty.
  std::function<void(std::string_view point)> fault_hook;
};

namespace internal {

class LocalSnapshotter : public Snapshotter {
 public:
  // With MetadataSync::kOnClose: flushes the root and marks it closed (best effort; if that
  // fails the marker stays "open", which is safe: a reboot then discards the root).
  ~LocalSnapshotter() override;

  absl::StatusOr<Info> Stat(std::string_view key) override;
  absl::StatusOr<DiskUsage> Usage(std::string_view key) override;
  absl::StatusOr<std::vector<base::Mount>> Mounts(std::string_view key) override;
  absl::StatusOr<std::vector<base::Mount>> Prepare(std::string_view key, std::string_view parent,
                                                   const Labels& labels) override;
  absl::StatusOr<std::vector<base::Mount>> View(std::string_view key, std::string_view parent,
                                                const Labels& labels) override;
  absl::Status Commit(std::string_view name, std::string_view key, const Labels& labels) override;
  absl::Status Remove(std::string_view key) override;
  absl::Status Walk(const WalkFn& fn, const WalkFilter& filter) override;
  // Defined in local_verify.cc.
  absl::StatusOr<VerifyOutcome> Verify(bool repair) override;

  const std::string& root() const { return root_; }

 protected:
  LocalSnapshotter(std::string root, LocalSnapshotterOptions options);

  // Locks the root, opens the metadata and removes what interrupted operations left behind.
  absl::Status Init();

  // <root>/snapshots/<id>
  std::string SnapshotDir(uint64_t id) const;
  // <root>/snapshots/<rel>
  std::string SnapshotPath(std::string_view rel) const;

  // Creates <root>/snapshots/<id> and what a new snapshot of `kind` needs. `parent_stack`
  // lists the parent's layer dirs, top-most first (empty without parent).
  virtual absl::Status CreateLayer(uint64_t id, Kind kind,
                                   const std::vector<std::string>& parent_stack) = 0;
  // The mounts of active/view `record`.
  virtual std::vector<base::Mount> MountsFor(const SnapshotRecord& record,
                                             const std::vector<std::string>& parent_stack) = 0;
  // Finishes an active snapshot's data for committing. On entry record.depth is the chain
  // length without flattening; implementations may flatten and must set flattened/depth.
  virtual absl::Status PrepareCommit(SnapshotRecord& record,
                                     const std::vector<std::string>& parent_stack) = 0;
  // Called after `record` was committed; best effort (e.g. dropping scratch dirs).
  virtual void Committed(const SnapshotRecord& /*record*/) {}
  // Removes half-done commit artefacts of an existing snapshot (called by Init).
  virtual absl::Status RecoverLayer(const SnapshotRecord& record) = 0;
  // The dir that stands for committed `record` in a child's stack, relative to
  // <root>/snapshots ("<id>/fs").
  virtual std::string StackDir(const SnapshotRecord& record) const = 0;

  const LocalSnapshotterOptions& options() const { return options_; }
  void Fault(std::string_view point) const {
    if (options_.fault_hook) options_.fault_hook(point);
  }

 private:
  absl::StatusOr<std::vector<base::Mount>> CreateSnapshot(Kind kind, std::string_view key,
                                                          std::string_view parent,
                                                          const Labels& labels);
  // Layer dirs of committed `parent`, top-most first, as absolute paths.
  std::vector<std::string> StackOf(const SnapshotRecord& parent) const;
  absl::Status InsertRecord(const SnapshotRecord& record);
  struct PendingCommit {
    SnapshotRecord record;                   // the active record; depth = chain length
    std::vector<std::string> parent_stack;   // absolute
    std::vector<std::string> parent_lowers;  // relative, as stored
  };
  // Validates a Commit and reserves `key` and `name`.
  absl::StatusOr<PendingCommit> ReserveCommit(std::string_view name, std::string_view key);
  absl::Status FinishCommit(const SnapshotRecord& committed, std::string_view key);
  absl::Status RecoverAll();
  // Reads the session marker, discards the root after a machine crash, and marks it open.
  absl::Status StartSession();
  // Deletes every snapshot directory and the metadata files (before the store is opened).
  absl::Status DiscardAll();
  // syncfs (when contents may be unflushed), LMDB sync, marker "closed".
  absl::Status MarkClosed();
  void Release(std::string_view key, std::string_view pinned_parent);
  // Drops from `out` and `broken` the problems of snapshots whose record is gone or replaced
  // since `checked` was read (local_verify.cc).
  absl::Status DropVanished(VerifyOutcome* out, std::vector<std::string>* broken,
                            const absl::flat_hash_map<std::string, const SnapshotRecord*>& checked);
  // Rewrites the child counts of `fixes` (key -> count) in one transaction (local_verify.cc).
  absl::Status FixChildCounts(const std::vector<std::pair<std::string, uint32_t>>& fixes);
  // Removes <root>/snapshots/<id> (working from fds, never following symlinks).
  absl::Status RemoveSnapshotDir(uint64_t id) const;

  const std::string root_;
  const LocalSnapshotterOptions options_;
  base::UniqueFd lock_fd_;
  std::unique_ptr<MetadataStore> meta_;

  // Whether snapshot contents may have been written since the root was last marked closed
  // (set by Prepare/View, whose mounts get written, and by Commit, which may flatten).
  std::atomic<bool> contents_unflushed_{false};

  absl::Mutex mu_;
  uint64_t next_id_ ABSL_GUARDED_BY(mu_) = 1;
  // Keys/names reserved by an unfinished Prepare, View or Commit.
  absl::flat_hash_set<std::string> busy_ ABSL_GUARDED_BY(mu_);
  // Committed snapshots that an unfinished Prepare/View reads from.
  absl::flat_hash_map<std::string, int> pins_ ABSL_GUARDED_BY(mu_);
};

}  // namespace internal
}  // namespace kiln::snapshotter

#endif  // KILN_SNAPSHOTTER_LOCAL_SNAPSHOTTER_H_
