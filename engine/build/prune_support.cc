#include "engine/build/prune_support.h"

#include <algorithm>
#include <set>
#include <utility>

#include "base/status.h"
#include "engine/oci/manifest.h"
#include "engine/oci/media_types.h"

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

absl::Status LabelImageBlobs(cache::ContentStore& content, const std::vector<base::Digest>& blobs) {
  for (const base::Digest& d : blobs) {
    KILN_ASSIGN_OR_RETURN(cache::BlobInfo info, content.Info(d));
    if (info.labels.count(kImageBlobLabel) != 0) continue;  // no write on a no-op rebuild
    KILN_RETURN_IF_ERROR(content.SetLabels(d, {{kImageBlobLabel, "1"}}));
  }
  return absl::OkStatus();
}

absl::Status MarkImageBlobs(image::ImageStore& images, cache::ContentStore& content) {
  std::set<std::string> live;
  KILN_ASSIGN_OR_RETURN(auto records, images.List());
  std::vector<oci::Descriptor> pending;
  for (const auto& r : records) pending.push_back(r.target);
  while (!pending.empty()) {
    oci::Descriptor d = pending.back();
    pending.pop_back();
    if (!live.insert(d.digest.str()).second) continue;
    if (d.media_type == oci::kMediaTypeOciIndex ||
        d.media_type == oci::kMediaTypeDockerManifestList) {
      auto json = content.ReadAll(d.digest);
      if (!json.ok()) continue;
      auto index = oci::ParseIndex(*json);
      if (index.ok()) {
        pending.insert(pending.end(), index->manifests.begin(), index->manifests.end());
      }
    } else if (d.media_type == oci::kMediaTypeOciManifest ||
               d.media_type == oci::kMediaTypeDockerManifest) {
      auto json = content.ReadAll(d.digest);
      if (!json.ok()) continue;
      auto m = oci::ParseManifest(*json);
      if (!m.ok()) continue;
      pending.push_back(m->config);
      pending.insert(pending.end(), m->layers.begin(), m->layers.end());
    }
  }
  std::vector<std::pair<base::Digest, bool>> changes;
  KILN_RETURN_IF_ERROR(content.Walk([&](const cache::BlobInfo& b) {
    bool want = live.count(b.digest.str()) != 0;
    bool has = b.labels.count(kImageBlobLabel) != 0;
    if (want != has) changes.emplace_back(b.digest, want);
  }));
  for (const auto& [digest, want] : changes) {
    KILN_RETURN_IF_ERROR(content.SetLabels(digest, {{kImageBlobLabel, want ? "1" : ""}}));
  }
  return absl::OkStatus();
}

absl::StatusOr<int64_t> RemoveOrphanSnapshots(
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
  int64_t freed = 0;
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
        if (usage.ok()) freed += usage->size;
        it = orphans.erase(it);
        progress = true;
      } else {
        ++it;
      }
    }
  }
  return freed;
}

}  // namespace kiln::engine
