#include "engine/core/prune_support.h"

#include <algorithm>
#include <set>
#include <utility>

#include "base/status.h"

namespace kiln::engine {
namespace {

// Orphans committed within this long before the oldest running build started are kept too
// (granularity of the snapshotter's timestamps against the engine's clock).
constexpr absl::Duration kOrphanSlack = absl::Seconds(1);

}  // namespace

absl::Status SnapshotterRemover::Remove(const std::string& key) {
  if (key.empty()) return absl::OkStatus();
  absl::Status st = s_->Remove(key);
  return absl::IsNotFound(st) ? absl::OkStatus() : st;
}

absl::StatusOr<int64_t> SnapshotterRemover::Usage(const std::string& key) {
  if (key.empty()) return int64_t{0};
  KILN_ASSIGN_OR_RETURN(snapshotter::DiskUsage u, s_->Usage(key));
  return u.size;
}

absl::Status EngineGcReferences::MarkRoots(absl::flat_hash_set<base::Digest>* live) {
  return images_->MarkReachable(live);
}

absl::Status EngineGcReferences::SnapshotBlobs(absl::flat_hash_set<base::Digest>* live) {
  std::vector<LayerStore::Memo> memos;
  KILN_RETURN_IF_ERROR(layers_->WalkMemos([&](const LayerStore::Memo& m) {
    if (m.layer.has_value()) memos.push_back(m);
  }));
  absl::flat_hash_set<std::string> gone;
  for (const LayerStore::Memo& m : memos) {
    if (gone.contains(m.snapshot)) continue;
    absl::StatusOr<snapshotter::Info> info = snapshots_->Stat(m.snapshot);
    if (absl::IsNotFound(info.status())) {
      gone.insert(m.snapshot);
      continue;
    }
    KILN_RETURN_IF_ERROR(info.status());
    live->insert(m.layer->digest);
  }
  return absl::OkStatus();
}

absl::StatusOr<int> RemoveOrphanLayerMemos(LayerStore& layers, snapshotter::Snapshotter& snapshots,
                                           cache::LeaseManager& leases) {
  std::set<std::string> candidates;
  KILN_RETURN_IF_ERROR(
      layers.WalkMemos([&](const LayerStore::Memo& m) { candidates.insert(m.snapshot); }));
  int removed = 0;
  for (const std::string& snapshot : candidates) {
    auto guard = leases.TryBeginRemoval(cache::LeaseKind::kSnapshot, snapshot);
    if (!guard.has_value()) continue;  // a build holds it: it may be (re)made right now
    absl::StatusOr<snapshotter::Info> info = snapshots.Stat(snapshot);
    if (info.ok()) continue;
    if (!absl::IsNotFound(info.status())) return info.status();
    KILN_RETURN_IF_ERROR(layers.RemoveMemoFiles(snapshot));
    ++removed;
  }
  return removed;
}

absl::StatusOr<OrphanRemoval> RemoveOrphanSnapshots(
    snapshotter::Snapshotter& snapshots, cache::CacheIndex& index, cache::LeaseManager& leases,
    const std::function<std::optional<absl::Time>()>& oldest_running) {
  // Snapshots first, records second: a record written in between makes its snapshot live.
  std::vector<snapshotter::Info> candidates;
  KILN_RETURN_IF_ERROR(snapshots.Walk([&](const snapshotter::Info& info) {
    if (info.kind == snapshotter::Kind::kCommitted) candidates.push_back(info);
    return absl::OkStatus();
  }));
  std::set<std::string> live;
  KILN_RETURN_IF_ERROR(index.Walk(
      [&](const cache::CacheKey&, const cache::CacheRecord& r) { live.insert(r.snapshot); }));
  std::vector<snapshotter::Info> orphans;
  for (auto& info : candidates) {
    if (live.count(info.name) == 0) orphans.push_back(std::move(info));
  }
  OrphanRemoval removed;
  bool progress = true;
  while (progress && !orphans.empty()) {  // children before parents
    progress = false;
    for (auto it = orphans.begin(); it != orphans.end();) {
      // Both checks under the removal guard, right before the removal: a build that starts
      // later cannot have committed this snapshot, and a hold cannot start meanwhile.
      auto guard = leases.TryBeginRemoval(cache::LeaseKind::kSnapshot, it->name);
      std::optional<absl::Time> oldest = oldest_running();
      bool maybe_running =
          oldest.has_value() && (it->name.rfind("layer-", 0) == 0 ||
                                 std::max(it->created, it->updated) >= *oldest - kOrphanSlack);
      if (!guard.has_value() || maybe_running) {
        it = orphans.erase(it);
        continue;
      }
      auto usage = snapshots.Usage(it->name);
      if (snapshots.Remove(it->name).ok()) {
        if (usage.ok()) removed.bytes += usage->size;
        ++removed.count;
        it = orphans.erase(it);
        progress = true;
      } else {
        ++it;
      }
    }
  }
  return removed;
}

}  // namespace kiln::engine
