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

bool HasGcRef(const std::map<std::string, std::string>& labels) {
  auto it = labels.lower_bound(kGcRefLabelPrefix);
  return it != labels.end() && it->first.rfind(kGcRefLabelPrefix, 0) == 0;
}

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
  std::vector<DiskUsageEntry> out;
  for (const Row& row : rows) {
    DiskUsageEntry e{row.key, row.rec.snapshot, row.size(), row.rec.created, row.rec.last_used};
    e.shared = users.snapshots[row.rec.snapshot] > 1 ||
               (options_.snapshot_referenced && options_.snapshot_referenced(row.rec.snapshot));
    for (const base::Digest& d : row.rec.layers) {
      if (e.shared) break;
      if (users.blobs[d] > 1) e.shared = true;
      if (options_.store == nullptr) continue;
      absl::StatusOr<BlobInfo> info = options_.store->Info(d);
      if (info.ok() && HasGcRef(info->labels)) e.shared = true;
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
  bool last_user = users.snapshots[snap] == 1 &&
                   !(options_.snapshot_referenced && options_.snapshot_referenced(snap));
  if (last_user) {
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

absl::Status GarbageCollector::RemoveBlobs(const std::vector<Row>& kept,
                                           const std::vector<base::Digest>& freed,
                                           const GcPolicy& policy, GcReport* report) {
  if (options_.store == nullptr) return absl::OkStatus();
  absl::flat_hash_set<base::Digest> in_use;
  for (const Row& row : kept) in_use.insert(row.rec.layers.begin(), row.rec.layers.end());
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
    if (in_use.contains(b.digest) || HasGcRef(b.labels)) continue;
    std::optional<LeaseManager::RemovalGuard> guard;
    if (options_.leases != nullptr) {
      guard = options_.leases->TryBeginRemoval(LeaseKind::kBlob, b.digest.str());
      if (!guard.has_value()) continue;
    }
    // Look again under the guard: a build that stored an image labels its blobs before it
    // releases its holds, so a label set since the walk above shows here.
    absl::StatusOr<BlobInfo> now = options_.store->Info(b.digest);
    if (absl::IsNotFound(now.status())) continue;
    KILN_RETURN_IF_ERROR(now.status());
    if (HasGcRef(now->labels)) continue;
    absl::Status st = options_.store->Delete(b.digest);
    if (absl::IsNotFound(st)) continue;
    KILN_RETURN_IF_ERROR(st);
    report->removed_blobs.push_back(b.digest);
    report->blob_bytes_freed += b.size;
    report->bytes_freed += b.size;
  }
  return absl::OkStatus();
}

}  // namespace kiln::cache
