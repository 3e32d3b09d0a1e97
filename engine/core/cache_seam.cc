#include "engine/core/cache_seam.h"

#include "absl/strings/str_cat.h"
#include "base/status.h"
#include "engine/ops/results.h"
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
  if (leases_ == nullptr || r.snapshot.empty()) {
    return std::make_shared<SnapshotResult>(r.snapshot);
  }
  // Hold first, then check: GC removes a snapshot only under a removal guard, which makes the
  // hold fail (Aborted), and once the hold is in, GC leaves the snapshot alone.
  cache::Lease lease = leases_->NewLease();
  absl::Status held = lease.HoldSnapshot(r.snapshot);
  if (absl::IsAborted(held)) return solver::ResultRef();  // being collected: a miss
  if (!held.ok()) return held;
  if (!worker_->snapshots->Stat(r.snapshot).ok()) return solver::ResultRef();  // collected
  return std::make_shared<SnapshotResult>(r.snapshot, std::move(lease));
}

absl::Status SnapshotCacheSeam::Save(const base::Digest& key, const solver::ResultRef& result,
                                     const solver::Vertex& vertex) {
  auto* snap = dynamic_cast<const SnapshotResult*>(result.get());
  // Only snapshots are cached (the empty filesystem too, so FROM scratch shows as cached).
  if (snap == nullptr) return absl::OkStatus();
  // Held before the record exists, so GC never sees an unheld record of a running build. An
  // op may return a snapshot that existed before it ran (an unpacked base image): if GC is
  // removing it (Aborted) or removed it before the hold, say Aborted and the step reruns.
  if (leases_ != nullptr && !snap->snapshot().empty()) {
    KILN_RETURN_IF_ERROR(snap->Hold(*leases_));
    if (!worker_->snapshots->Stat(snap->snapshot()).ok()) {
      return absl::AbortedError(absl::StrCat("hold '", snap->snapshot(),
                                             "': garbage-collected before the step's result "
                                             "was recorded"));
    }
  }
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
