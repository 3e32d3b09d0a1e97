// Results of the engine's ops, as the solver sees them (opaque solver::Result handles).
#ifndef KILN_ENGINE_BUILD_RESULTS_H_
#define KILN_ENGINE_BUILD_RESULTS_H_

#include <string>

#include "engine/solver/result.h"

namespace kiln::engine {

// A committed snapshot (a filesystem state). An empty name is the empty filesystem (scratch).
class SnapshotResult : public solver::Result {
 public:
  explicit SnapshotResult(std::string snapshot) : snapshot_(std::move(snapshot)) {}
  const std::string& snapshot() const { return snapshot_; }
  std::string Id() const override { return snapshot_.empty() ? "scratch" : snapshot_; }

 private:
  std::string snapshot_;
};

// A local directory of the client (the build context), read in place.
class ContextResult : public solver::Result {
 public:
  explicit ContextResult(std::string dir) : dir_(std::move(dir)) {}
  const std::string& dir() const { return dir_; }
  std::string Id() const override { return "local:" + dir_; }

 private:
  std::string dir_;
};

}  // namespace kiln::engine

#endif  // KILN_ENGINE_BUILD_RESULTS_H_
