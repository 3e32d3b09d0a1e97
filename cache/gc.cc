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
  int64_t blob_size = 0;
  int64_t size() const { return snapshot_size + blob_size; }
};

namespace {

// How many times a blob pass marks (the first mark plus retries after a root was added).
constexpr int kMaxMarks = 4;

}  // namespace

struct GarbageCollector::Users {
  absl::flat_hash_map<std::string, int> snapshots;
  absl::flat_hash_map<base::Digest, int> blobs;
};

GarbageCollector::Users GarbageCollector::CountUsers(const std::vector<Row>& rows) {
  GarbageCollector::Users u;
  for (const auto& r : rows) {
    ++u.snapshots[r.rec.snapshot];
    for (const base::Digest& d : r.rec.layers) ++u.blobs[d];
  }
  return u;
}

GarbageCollector::GarbageCollector(GcOptions options) : options_(std::move(options)) {
  if (!options_.now) options_.now = [] { return absl::Now(); };
}

absl::StatusOr<std::vector<GarbageCollector::Row>> GarbageCollector::Collect() {
  std::vector<Row> rows;
  KILN_RETURN_IF_ERROR(options_.index->Walk([&](const CacheKey& k, const CacheRecord& r) {
    rows.push_back(Row{k, r, 0, 0});
  }));
  for (Row& row : rows) {
    row.snapshot_size = row.rec.size;
    if (row.snapshot_size <= 0) {
      absl::StatusOr<int64_t> usage = options_.snapshots->Usage(row.rec.snapshot);
      row.snapshot_size = usage.ok() ? *usage : 0;
    }
    if (options_.store == nullptr) continue;
    for (const base::Digest& d : row.rec.layers) {
      absl::StatusOr<BlobInfo> info = options_.store->Info(d);
      if (info.ok()) row.blob_size += info->size;
    }
  }
  return rows;
}

bool GarbageCollector::Leased(const Row& row) const {
  if (options_.leases == nullptr) return false;
  if (options_.leases->IsSnapshotHeld(row.rec.snapshot)) return true;
  for (const base::Digest& d : row.rec.layers) {
    if (options_.leases->IsBlobHeld(d)) return true;
  }
  return false;
}

absl::StatusOr<std::vector<DiskUsageEntry>> GarbageCollector::DiskUsage() {
  KILN_ASSIGN_OR_RETURN(std::vector<Row> rows, Collect());
  Users users = CountUsers(rows);
  absl::flat_hash_set<base::Digest> roots;
  if (options_.references != nullptr) {
    KILN_RETURN_IF_ERROR(options_.references->MarkRoots(&roots));
  }
  std::vector<DiskUsageEntry> out;
  for (const Row& row : rows) {
    DiskUsageEntry e{row.key, row.rec.snapshot, row.size(), row.rec.created, row.rec.last_used};
    e.shared = users.snapshots[row.rec.snapshot] > 1;
    for (const base::Digest& d : row.rec.layers) {
      if (users.blobs[d] > 1 || roots.contains(d)) e.shared = true;
    }
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

absl::StatusOr<bool> GarbageCollector::RemoveOne(const Row& row, Users& users,
                                                 std::vector<base::Digest>* freed,
                                                 GcReport* report) {
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
  for (const base::Digest& d : row.rec.layers) {
    if (--users.blobs[d] == 0) freed->push_back(d);
  }
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
  std::vector<base::Digest> freed_blobs;
  // Rounds: a snapshot whose children are still there is retried after they went.
  for (bool progress = true; progress && removed.size() < selected.size();) {
    progress = false;
    for (const Row* row : selected) {
      if (removed.contains(row)) continue;
      KILN_ASSIGN_OR_RETURN(bool done, RemoveOne(*row, users, &freed_blobs, &report));
      if (!done) continue;
      removed.insert(row);
      progress = true;
    }
  }
  std::vector<Row> kept;
  for (const Row& row : rows) {
    if (!removed.contains(&row)) kept.push_back(row);
  }
  KILN_RETURN_IF_ERROR(RemoveBlobs(kept, freed_blobs, policy, &report));
  return report;
}

absl::StatusOr<absl::flat_hash_set<base::Digest>> GarbageCollector::Mark(
    const std::vector<Row>& kept) {
  absl::flat_hash_set<base::Digest> live;
  for (const Row& row : kept) live.insert(row.rec.layers.begin(), row.rec.layers.end());
  if (options_.references != nullptr) {
    KILN_RETURN_IF_ERROR(options_.references->MarkRoots(&live));
    KILN_RETURN_IF_ERROR(options_.references->SnapshotBlobs(&live));
  }
  return live;
}

absl::Status GarbageCollector::RemoveBlobs(const std::vector<Row>& kept,
                                           const std::vector<base::Digest>& freed,
                                           const GcPolicy& policy, GcReport* report) {
  if (options_.store == nullptr) return absl::OkStatus();
  auto version = [this] {
    return options_.references != nullptr ? options_.references->RootsVersion() : uint64_t{0};
  };
  uint64_t marked_at = version();
  KILN_ASSIGN_OR_RETURN(absl::flat_hash_set<base::Digest> live, Mark(kept));
  int marks = 1;
  std::vector<BlobInfo> candidates;
  absl::flat_hash_set<base::Digest> seen;
  for (const base::Digest& d : freed) {
    absl::StatusOr<BlobInfo> info = options_.store->Info(d);
    if (info.ok() && seen.insert(d).second) candidates.push_back(*std::move(info));
  }
  if (policy.all || policy.keep_duration.has_value()) {
    absl::Time cutoff =
        policy.all ? absl::InfiniteFuture() : options_.now() - *policy.keep_duration;
    KILN_RETURN_IF_ERROR(options_.store->Walk([&](const BlobInfo& b) {
      if (b.last_used < cutoff && !seen.contains(b.digest)) {
        seen.insert(b.digest);
        candidates.push_back(b);
      }
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
        KILN_ASSIGN_OR_RETURN(live, Mark(kept));
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
