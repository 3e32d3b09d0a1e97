// Results of the engine's ops, as the solver sees them (opaque solver::Result handles).
#ifndef KILN_ENGINE_OPS_RESULTS_H_
#define KILN_ENGINE_OPS_RESULTS_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "cache/lease.h"
#include "engine/solver/result.h"

namespace kiln::engine {

// A committed snapshot (a filesystem state). An empty name is the empty filesystem (scratch).
//
// Leases: the result can carry one hold on its snapshot (cache/lease.h), taken by the cache
// seam before a cache hit is trusted (Lookup) or before the record is written (Save). The hold
// lives as long as the result: the solver keeps a build's results until the build ends, so GC
// skips every snapshot a running build uses, and parallel stages that share a parent share
// (or each take) a counted hold. Parents of a held snapshot need no hold of their own: the
// snapshotter refuses to remove a snapshot that has children (FailedPrecondition), and GC
// keeps such a record.
// Thread-safe (Hold may race with concurrent readers).
class SnapshotResult : public solver::Result {
 public:
  explicit SnapshotResult(std::string snapshot) : snapshot_(std::move(snapshot)) {}
  SnapshotResult(std::string snapshot, cache::Lease hold)
      : snapshot_(std::move(snapshot)), hold_(std::move(hold)) {}
  const std::string& snapshot() const { return snapshot_; }
  std::string Id() const override { return snapshot_.empty() ? "scratch" : snapshot_; }

  // Adds a hold on the snapshot from `leases` unless the result already has one (or is the
  // empty filesystem). Aborted while GC is removing the snapshot (lease.h).
  absl::Status Hold(cache::LeaseManager& leases) const {
    if (snapshot_.empty()) return absl::OkStatus();
    absl::MutexLock lock(&mu_);
    if (hold_.holds() > 0) return absl::OkStatus();
    cache::Lease lease = leases.NewLease();
    absl::Status st = lease.HoldSnapshot(snapshot_);
    if (st.ok()) hold_ = std::move(lease);
    return st;
  }
  bool held() const {
    absl::MutexLock lock(&mu_);
    return hold_.holds() > 0;
  }

 private:
  std::string snapshot_;
  mutable absl::Mutex mu_;
  mutable cache::Lease hold_ ABSL_GUARDED_BY(mu_);
};

// A local directory of the client (the build context), read in place, with the patterns of
// its .dockerignore (what RUN --mount=type=bind from the context leaves out).
class ContextResult : public solver::Result {
 public:
  explicit ContextResult(std::string dir, std::vector<std::string> excludes = {})
      : dir_(std::move(dir)), excludes_(std::move(excludes)) {}
  const std::string& dir() const { return dir_; }
  const std::vector<std::string>& excludes() const { return excludes_; }
  std::string Id() const override { return "local:" + dir_; }

 private:
  std::string dir_;
  std::vector<std::string> excludes_;
};

}  // namespace kiln::engine

#endif  // KILN_ENGINE_OPS_RESULTS_H_
