#include "cache/gc.h"

#include <algorithm>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "base/status.h"

namespace kiln::cache {

struct GarbageCollector::Row {
  CacheKey key;
  CacheRecord rec;
  int64_t snapshot_size = 0;
  int64_t size() const { return snapshot_size; }
};

namespace {

// How many times a blob pass marks (the first mark plus retries after a root was added).
constexpr int kMaxMarks = 4;

}  // namespace

struct GarbageCollector::Users {
  absl::flat_hash_map<std::string, int> snapshots;
};

GarbageCollector::Users GarbageCollector::CountUsers(const std::vector<Row>& rows) {
  GarbageCollector::Users u;
  for (const auto& r : rows) {
    ++u.snapshots[r.rec.snapshot];
  }
  return u;
}

GarbageCollector::GarbageCollector(GcOptions options) : options_(std::move(options)) {
  if (!options_.now) options_.now = [] { return absl::Now(); };
}

absl::StatusOr<std::vector<GarbageCollector::Row>> GarbageCollector::Collect() {
  std::vector<Row> rows;
  KILN_RETURN_IF_ERROR(options_.index->Walk([&](const CacheKey& k, const CacheRecord& r) {
    rows.push_back(Row{k, r, 0});
  }));
  for (Row& row : rows) {
    row.snapshot_size = row.rec.size;
    if (row.snapshot_size <= 0) {
      absl::StatusOr<int64_t> usage = options_.snapshots->Usage(row.rec.snapshot);
      row.snapshot_size = usage.ok() ? *usage : 0;
    }
  }
  return rows;
}

bool GarbageCollector::Leased(const Row& row) const {
  return options_.leases != nullptr && options_.leases->IsSnapshotHeld(row.rec.snapshot);
}

absl::StatusOr<std::vector<DiskUsageEntry>> GarbageCollector::DiskUsage() {
  KILN_ASSIGN_OR_RETURN(std::vector<Row> rows, Collect());
  Users users = CountUsers(rows);
  std::vector<DiskUsageEntry> out;
  for (const Row& row : rows) {
    DiskUsageEntry e{row.key, row.rec.snapshot, row.size(), row.rec.created, row.rec.last_used};
    e.shared = users.snapshots[row.rec.snapshot] > 1;
    e.in_use = Leased(row);
    out.push_back(std::move(e));
  }
  std::sort(out.begin(), out.end(), [](const DiskUsageEntry& a, const DiskUsageEntry& b) {
    return a.last_used > b.last_used;
  });
  return out;
}

std::vector<const GarbageCollector::Row*> GarbageCollector::Select(const std::vector<Row>& rows,
                                                                   const GcPolicy& policy,
                                                                   GcReport* report) const {
  absl::Time cutoff = policy.keep_duration.has_value() ? options_.now() - *policy.keep_duration
                                                       : absl::InfinitePast();
  int64_t total = 0;
  std::vector<const Row*> lru;
  for (const Row& row : rows) {
    total += row.size();
    if (Leased(row)) {
      ++report->kept_leased;
    } else {
      lru.push_back(&row);
    }
  }
  std::stable_sort(lru.begin(), lru.end(),
                   [](const Row* a, const Row* b) { return a->rec.last_used < b->rec.last_used; });
  std::vector<const Row*> selected;
  for (const Row* row : lru) {
    bool by_rule = policy.all || row->rec.last_used < cutoff;
    bool by_size = policy.keep_storage.has_value() && total > *policy.keep_storage;
    if (!by_rule && !by_size) continue;
    selected.push_back(row);
    total -= row->size();
  }
  return selected;
}

absl::StatusOr<bool> GarbageCollector::RemoveOne(const Row& row, Users& users, GcReport* report) {
  const std::string& snap = row.rec.snapshot;
  std::optional<LeaseManager::RemovalGuard> guard;
  if (options_.leases != nullptr) {
    guard = options_.leases->TryBeginRemoval(LeaseKind::kSnapshot, snap);
    if (!guard.has_value()) return false;  // leased since we looked: keep
  }
  int64_t bytes = 0;
  if (users.snapshots[snap] == 1) {
    absl::Status st = options_.snapshots->Remove(snap);
    if (absl::IsFailedPrecondition(st)) return false;  // dependents first; retry next round
    if (!st.ok() && !absl::IsNotFound(st)) return st;
    bytes = row.snapshot_size;
  }
  absl::Status st = options_.index->Delete(row.key);
  if (!st.ok() && !absl::IsNotFound(st)) return st;
  --users.snapshots[snap];
  report->bytes_freed += bytes;
  report->removed.push_back(GcRemovedRecord{row.key, snap, bytes, row.rec.last_used});
  return true;
}

absl::StatusOr<GcReport> GarbageCollector::Prune(const GcPolicy& policy) {
  absl::MutexLock lock(&prune_mu_);
  KILN_ASSIGN_OR_RETURN(std::vector<Row> rows, Collect());
  GcReport report;
  std::vector<const Row*> selected = Select(rows, policy, &report);
  Users users = CountUsers(rows);
  absl::flat_hash_set<const Row*> removed;
  // Rounds: a snapshot whose children are still there is retried after they went.
  for (bool progress = true; progress && removed.size() < selected.size();) {
    progress = false;
    for (const Row* row : selected) {
      if (removed.contains(row)) continue;
      KILN_ASSIGN_OR_RETURN(bool done, RemoveOne(*row, users, &report));
      if (!done) continue;
      removed.insert(row);
      progress = true;
    }
  }
  // Blobs of removed snapshots are unmarked now: then every unmarked blob is a candidate.
  KILN_RETURN_IF_ERROR(RemoveBlobs(policy, !removed.empty(), &report));
  return report;
}

absl::StatusOr<absl::flat_hash_set<base::Digest>> GarbageCollector::Mark() {
  absl::flat_hash_set<base::Digest> live;
  if (options_.references != nullptr) {
    KILN_RETURN_IF_ERROR(options_.references->MarkRoots(&live));
    KILN_RETURN_IF_ERROR(options_.references->SnapshotBlobs(&live));
  }
  return live;
}

absl::Status GarbageCollector::RemoveBlobs(const GcPolicy& policy, bool records_removed,
                                           GcReport* report) {
  if (options_.store == nullptr) return absl::OkStatus();
  auto version = [this] {
    return options_.references != nullptr ? options_.references->RootsVersion() : uint64_t{0};
  };
  uint64_t marked_at = version();
  KILN_ASSIGN_OR_RETURN(absl::flat_hash_set<base::Digest> live, Mark());
  int marks = 1;
  std::vector<BlobInfo> candidates;
  if (policy.all || records_removed || policy.keep_duration.has_value()) {
    absl::Time cutoff = policy.all || records_removed ? absl::InfiniteFuture()
                                                      : options_.now() - *policy.keep_duration;
    KILN_RETURN_IF_ERROR(options_.store->Walk([&](const BlobInfo& b) {
      if (b.last_used < cutoff) candidates.push_back(b);
    }));
  }
  for (const BlobInfo& b : candidates) {
    while (true) {
      if (live.contains(b.digest)) break;
      std::optional<LeaseManager::RemovalGuard> guard;
      if (options_.leases != nullptr) {
        guard = options_.leases->TryBeginRemoval(LeaseKind::kBlob, b.digest.str());
        if (!guard.has_value()) break;
      }
      // A root added since the mark (an image stored before its builder's lease ended) shows
      // as a new version: drop the guard, mark again and look at this blob again.
      if (version() != marked_at) {
        guard.reset();
        if (marks == kMaxMarks) return absl::OkStatus();  // roots keep moving: next prune
        marked_at = version();
        KILN_ASSIGN_OR_RETURN(live, Mark());
        ++marks;
        continue;
      }
      absl::Status st = options_.store->Delete(b.digest);
      if (absl::IsNotFound(st)) break;
      KILN_RETURN_IF_ERROR(st);
      report->removed_blobs.push_back(b.digest);
      report->blob_bytes_freed += b.size;
      report->bytes_freed += b.size;
      break;
    }
  }
  return absl::OkStatus();
}

}  // namespace kiln::cache
