// Snapshotter: the interface to copy-on-write filesystem snapshots, with containerd's
// semantics (core/snapshots/snapshotter.go).
//
// A snapshot is named by a caller-chosen key. Three kinds exist:
//   - active:    writable; made by Prepare(key, parent). Its contents start as the parent's.
//   - view:      read-only; made by View(key, parent).
//   - committed: immutable; made by Commit(name, key) from an active snapshot, whose key then
//                disappears. Only committed snapshots can be parents.
// Snapshotters DESCRIBE mounts (base::Mount values); the consumer mounts them with
// base::MountAt and unmounts them before Commit or Remove. Mounts are valid only as long as
// the snapshot exists.
//
// Thread safety: every implementation is safe for concurrent use from several threads.
// Ownership: the caller owns the Snapshotter; the snapshotter owns its root directory.
//
// Error codes shared by all methods: InvalidArgument for an empty key or a malformed request,
// Internal/Unknown/errno-derived codes for I/O failures (text "operation 'object': cause").
#ifndef KILN_SNAPSHOTTER_SNAPSHOTTER_H_
#define KILN_SNAPSHOTTER_SNAPSHOTTER_H_

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "base/mount.h"

namespace kiln::snapshotter {

enum class Kind { kActive, kView, kCommitted };

// "active", "view", "committed".
std::string_view KindName(Kind kind);

using Labels = std::map<std::string, std::string>;

struct Info {
  Kind kind = Kind::kActive;
  std::string name;    // the key (active/view) or name (committed)
  std::string parent;  // empty for a snapshot without parent
  Labels labels;
  absl::Time created = absl::UnixEpoch();
  absl::Time updated = absl::UnixEpoch();

  friend bool operator==(const Info&, const Info&) = default;
};

// Space used by one snapshot's own layer (for overlay: its upper dir; for copies: its tree).
// Hardlinked inodes count once.
struct DiskUsage {
  int64_t size = 0;    // bytes allocated (st_blocks * 512)
  int64_t inodes = 0;  // distinct inodes, including the layer's root directory
};

// One inconsistency Snapshotter::Verify found (see there).
struct VerifyProblem {
  std::string key;      // the snapshot's key or name
  std::string problem;  // what is wrong
  std::string affects;  // what depends on it
  bool repaired = false;
};

struct VerifyOutcome {
  int64_t checked = 0;  // snapshots looked at
  std::vector<VerifyProblem> problems;
};

// Called for each snapshot by Walk; a non-OK status stops the walk and is returned by Walk.
using WalkFn = std::function<absl::Status(const Info&)>;
// Selects snapshots for Walk; an empty filter selects all.
using WalkFilter = std::function<bool(const Info&)>;

class Snapshotter {
 public:
  virtual ~Snapshotter() = default;

  // Info for `key`. NotFound if no snapshot has that key or name.
  virtual absl::StatusOr<Info> Stat(std::string_view key) = 0;

  // Usage of the snapshot's own layer. NotFound as Stat.
  virtual absl::StatusOr<DiskUsage> Usage(std::string_view key) = 0;

  // The mounts for an active snapshot or a view. NotFound as Stat; FailedPrecondition for a
  // committed snapshot.
  virtual absl::StatusOr<std::vector<base::Mount>> Mounts(std::string_view key) = 0;

  // Creates an active snapshot `key` on top of committed `parent` ("" for an empty tree) and
  // returns its mounts. AlreadyExists if `key` is taken; NotFound if `parent` does not exist;
  // InvalidArgument if `parent` is not committed.
  virtual absl::StatusOr<std::vector<base::Mount>> Prepare(std::string_view key,
                                                           std::string_view parent,
                                                           const Labels& labels = {}) = 0;

  // Like Prepare, but the snapshot is a read-only view.
  virtual absl::StatusOr<std::vector<base::Mount>> View(std::string_view key,
                                                        std::string_view parent,
                                                        const Labels& labels = {}) = 0;

  // Turns active snapshot `key` into committed snapshot `name` (with `labels`); `key` then no
  // longer exists. The caller must have unmounted it. NotFound if `key` does not exist;
  // FailedPrecondition if `key` is not active; AlreadyExists if `name` is taken.
  virtual absl::Status Commit(std::string_view name, std::string_view key,
                              const Labels& labels = {}) = 0;

  // Removes a snapshot of any kind and its data. NotFound if it does not exist;
  // FailedPrecondition if other snapshots use it as parent (or are being prepared on it).
  virtual absl::Status Remove(std::string_view key) = 0;

  // Calls `fn` for every snapshot selected by `filter`, in key order, on a consistent
  // snapshot of the metadata taken before the first call. Returns the first non-OK status
  // from `fn`. `filter` runs under the snapshotter's read transaction and must not call back
  // into it; `fn` runs without locks and may.
  virtual absl::Status Walk(const WalkFn& fn, const WalkFilter& filter = {}) = 0;

  // Checks every snapshot's record against its directories on disk, its parent (exists, is
  // committed) and its count of children; snapshots being prepared or committed right now are
  // skipped. With `repair`, a broken snapshot is removed together with every snapshot stacked
  // on it (children first; one in use stays, unrepaired), and wrong child counts are
  // rewritten; nothing else is touched. Unimplemented by snapshotters without records.
  virtual absl::StatusOr<VerifyOutcome> Verify(bool repair) {
    (void)repair;
    return absl::UnimplementedError("verify snapshots: not supported by this snapshotter");
  }
};

}  // namespace kiln::snapshotter

#endif  // KILN_SNAPSHOTTER_SNAPSHOTTER_H_
