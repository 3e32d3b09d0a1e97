#include "engine/daemon/verify.h"

#include <optional>
#include <utility>

#include "absl/synchronization/mutex.h"
#include "base/status.h"
#include "engine/image/image_store.h"
#include "snapshotter/snapshotter.h"

namespace kiln::engine::daemon {
namespace {

void Add(VerifyReport* report, std::string store, cache::VerifyOutcome outcome) {
  report->checked.emplace_back(std::move(store), outcome.checked);
  for (cache::VerifyProblem& p : outcome.problems) report->problems.push_back(std::move(p));
}

}  // namespace

absl::StatusOr<VerifyReport> VerifyStores(const EngineStores& stores, bool repair,
                                          int builds_running) {
  if (stores.content == nullptr || stores.snapshots == nullptr || stores.index == nullptr) {
    return absl::UnimplementedError("verify: this engine exposes no stores");
  }
  std::optional<absl::MutexLock> lock;
  if (stores.exclusive != nullptr) lock.emplace(stores.exclusive);
  VerifyReport report;
  KILN_ASSIGN_OR_RETURN(cache::VerifyOutcome content,
                        cache::VerifyContentStore(*stores.content, stores.leases, repair));
  Add(&report, "content", std::move(content));
  if (stores.images != nullptr) {
    KILN_ASSIGN_OR_RETURN(cache::VerifyOutcome images, stores.images->Verify(repair));
    Add(&report, "images", std::move(images));
  }
  KILN_ASSIGN_OR_RETURN(snapshotter::VerifyOutcome snaps, stores.snapshots->Verify(repair));
  cache::VerifyOutcome as_cache{snaps.checked, {}};
  for (snapshotter::VerifyProblem& p : snaps.problems) {
    as_cache.problems.push_back(cache::VerifyProblem{
        "snapshot", std::move(p.key), std::move(p.problem), std::move(p.affects), p.repaired});
  }
  Add(&report, "snapshots", std::move(as_cache));
  snapshotter::Snapshotter* snapshots = stores.snapshots;
  auto committed = [snapshots](const std::string& key) {
    absl::StatusOr<snapshotter::Info> info = snapshots->Stat(key);
    return info.ok() && info->kind == snapshotter::Kind::kCommitted;
  };
  KILN_ASSIGN_OR_RETURN(cache::VerifyOutcome records,
                        cache::VerifyCacheIndex(*stores.index, committed, stores.leases, repair));
  Add(&report, "cache", std::move(records));
  if (stores.leases != nullptr) {
    Add(&report, "leases", cache::VerifyLeases(*stores.leases, builds_running));
  }
  return report;
}

absl::StatusOr<int> DropRecordsWithoutSnapshot(const EngineStores& stores) {
  if (stores.snapshots == nullptr || stores.index == nullptr) return 0;
  snapshotter::Snapshotter* snapshots = stores.snapshots;
  auto committed = [snapshots](const std::string& key) {
    absl::StatusOr<snapshotter::Info> info = snapshots->Stat(key);
    return info.ok() && info->kind == snapshotter::Kind::kCommitted;
  };
  KILN_ASSIGN_OR_RETURN(cache::VerifyOutcome out,
                        cache::VerifyCacheIndex(*stores.index, committed, stores.leases, true));
  return static_cast<int>(out.problems.size());
}

}  // namespace kiln::engine::daemon
