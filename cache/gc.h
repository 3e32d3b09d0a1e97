// Garbage collection of build cache records, their snapshots and layer blobs, plus `du` data.
//
// Prune(policy): candidates are cache records whose snapshot is not leased. With `all`, every
// candidate goes; with keep_duration, candidates unused for longer go; then with keep_storage,
// least-recently-used candidates go until the total size of all records (leased ones included) is
// at most keep_storage. Removing a record removes its snapshot first (through SnapshotRemover;
// skipped while another kept record uses it) and then the index record, so a crash leaves at worst
// a record whose snapshot vanished -- which CacheIndex::Lookup already treats as a miss. A snapshot
// that cannot be removed yet because kept snapshots depend on it (FailedPrecondition) keeps its
// record; removals are retried in rounds so whole chains go child-first.
// Blobs: one reachability model. The live set is marked from the roots GcReferences reports
// (blobs reachable from stored images, layer blobs of snapshots that still exist); records
// carry no blobs. Once records went (or with `all`) every blob, else those older than
// keep_duration, is deleted from the ContentStore when unmarked and when its removal guard
// can be taken (no lease holds it). A root added after the mark bumps RootsVersion: the
// collector then drops the guard, marks again and retries (at most kMaxMarks times), so an
// image stored (before its builder's lease ended) since the mark still saves its blobs.
// Thread-safety: one Prune at a time per collector (serialized internally); safe to run
// concurrently with builds that take leases as lease.h describes.
#ifndef KILN_CACHE_GC_H_
#define KILN_CACHE_GC_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "cache/cache_index.h"
#include "cache/content_store.h"
#include "cache/lease.h"

namespace kiln::cache {

// Roots of the blob graph outside the cache index (implemented by the engine over its image
// store and layer memos). Thread-safe.
class GcReferences {
 public:
  virtual ~GcReferences() = default;
  // Adds every blob reachable from a root (a stored image) to `live`.
  virtual absl::Status MarkRoots(absl::flat_hash_set<base::Digest>* live) = 0;
  // Changes whenever a root is added; read before MarkRoots and again before each deletion.
  virtual uint64_t RootsVersion() = 0;
  // Adds the layer blobs of snapshots that still exist to `live`.
  virtual absl::Status SnapshotBlobs(absl::flat_hash_set<base::Digest>* live) = 0;
};

// The snapshot side of GC (implemented by the engine over its Snapshotter).
class SnapshotRemover {
 public:
  virtual ~SnapshotRemover() = default;
  // Removes a committed snapshot. NotFound counts as done; FailedPrecondition means other
  // snapshots depend on it (retry later).
  virtual absl::Status Remove(const std::string& key) = 0;
  // Bytes the snapshot's own layer uses on disk.
  virtual absl::StatusOr<int64_t> Usage(const std::string& key) = 0;
};

struct GcPolicy {
  bool all = false;                             // prune every unleased record
  std::optional<absl::Duration> keep_duration;  // prune records unused for longer than this
  std::optional<int64_t> keep_storage;          // then LRU-prune down to this many bytes
};

struct GcRemovedRecord {
  CacheKey key;
  std::string snapshot;
  int64_t size = 0;
  absl::Time last_used;
};

struct GcReport {
  std::vector<GcRemovedRecord> removed;
  std::vector<base::Digest> removed_blobs;
  int64_t bytes_freed = 0;       // snapshots + blobs
  int64_t blob_bytes_freed = 0;  // the blob part of bytes_freed
  int64_t kept_leased = 0;       // records skipped because a lease holds them
};

// One `du` row.
struct DiskUsageEntry {
  CacheKey key;
  std::string snapshot;
  int64_t size = 0;  // the record's size (snapshot usage)
  absl::Time created;
  absl::Time last_used;
  bool shared = false;  // snapshot also used by another record
  bool in_use = false;  // held by a lease
};

struct GcOptions {
  CacheIndex* index = nullptr;           // required
  SnapshotRemover* snapshots = nullptr;  // required
  ContentStore* store = nullptr;         // optional: without it blobs are left alone
  LeaseManager* leases = nullptr;        // optional: without it nothing counts as leased
  GcReferences* references = nullptr;    // optional: without it only records are roots
  std::function<absl::Time()> now;       // default absl::Now
};

class GarbageCollector {
 public:
  // The pointed-to objects must outlive the collector.
  explicit GarbageCollector(GcOptions options);

  absl::StatusOr<GcReport> Prune(const GcPolicy& policy);
  // Every record, most recently used first.
  absl::StatusOr<std::vector<DiskUsageEntry>> DiskUsage();

 private:
  struct Row;
  struct Users;
  absl::StatusOr<std::vector<Row>> Collect();
  static Users CountUsers(const std::vector<Row>& rows);
  bool Leased(const Row& row) const;
  // The unleased records the policy removes, least recently used first.
  std::vector<const Row*> Select(const std::vector<Row>& rows, const GcPolicy& policy,
                                 GcReport* report) const;
  // Removes one record (snapshot first, then the index entry). Returns false when it must
  // wait (leased meanwhile, or dependents not removed yet).
  absl::StatusOr<bool> RemoveOne(const Row& row, Users& users, GcReport* report);
  // The blobs marked live: roots and the layer blobs of snapshots that still exist.
  absl::StatusOr<absl::flat_hash_set<base::Digest>> Mark();
  // Deletes unmarked, unleased blobs: every one with `all` or once records were removed (their
  // snapshots' blobs are unmarked now), else those older than keep_duration.
  absl::Status RemoveBlobs(const GcPolicy& policy, bool records_removed, GcReport* report);

  GcOptions options_;
  absl::Mutex prune_mu_;
};

}  // namespace kiln::cache

#endif  // KILN_CACHE_GC_H_
