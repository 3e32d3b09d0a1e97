#include "engine/build/cache_seam.h"

#include "engine/build/results.h"
#include "engine/solver/vertex.h"

namespace kiln::engine {

absl::StatusOr<solver::ResultRef> SnapshotCacheSeam::Lookup(const base::Digest& key,
                                                            const solver::Vertex&) {
  cache::CacheValidator validator;
  validator.snapshot_exists = [this](const std::string& s) {
    return s.empty() || worker_->snapshots->Stat(s).ok();
  };
  auto rec = index_->Lookup(key, validator);
  if (!rec.ok()) return rec.status();
  if (!rec->has_value()) return solver::ResultRef();
  const cache::CacheRecord& r = **rec;
  if (auto it = r.extra.find("context"); it != r.extra.end()) {
    return solver::ResultRef();  // contexts are never cached by key
  }
  return std::make_shared<SnapshotResult>(r.snapshot);
}

absl::Status SnapshotCacheSeam::Save(const base::Digest& key, const solver::ResultRef& result,
                                     const solver::Vertex& vertex) {
  auto* snap = dynamic_cast<const SnapshotResult*>(result.get());
  // Only snapshots are cached (the empty filesystem too, so FROM scratch shows as cached).
  if (snap == nullptr) return absl::OkStatus();
  cache::CacheRecord r;
  r.snapshot = snap->snapshot();
  if (!r.snapshot.empty()) {
    auto usage = worker_->snapshots->Usage(r.snapshot);
    if (usage.ok()) r.size = usage->size;
  }
  r.extra["description"] = vertex.name();
  return index_->Put(key, std::move(r));
}

}  // namespace kiln::engine
