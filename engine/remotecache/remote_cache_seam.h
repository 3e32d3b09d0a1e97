// RemoteCacheSeam: the solver's cache seam with remote caches on top of the local one. It wraps
// the local seam (engine/core/cache_seam.h):
// - Lookup asks the local cache first. On a miss it asks the caches imported by running builds
//   (BuildSession); a record there is materialized: its layer chain is fetched into the content
//   store and applied as an image's layers would be (UnpackImage), and it becomes a normal local
//   record marked extra["imported"] = "local:DIR" | "registry:REF" (what du and prune show).
//   A failed materialization (a missing or corrupt blob) is a miss plus a session warning.
// - Lookup hits and Saves are recorded for each running session whose graph has the vertex, so
//   Export can write the session's steps (cache_exporter.h).
// Cache keys are content-only, so a record imported by one build is right for any build: a
// concurrent build may hit it too. Thread-safe.
#ifndef KILN_ENGINE_REMOTECACHE_REMOTE_CACHE_SEAM_H_
#define KILN_ENGINE_REMOTECACHE_REMOTE_CACHE_SEAM_H_

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "cache/cache_index.h"
#include "engine/ops/layers.h"
#include "engine/ops/worker.h"
#include "engine/remotecache/cache_spec.h"
#include "engine/remotecache/cache_store.h"
#include "engine/solver/cache_seam.h"

namespace kiln::engine::remotecache {

// One imported description, ready for lookups.
struct ImportedCache {
  std::string source;  // CacheImport::Source()
  CacheDescription description;
  std::map<base::Digest, size_t> by_key;  // cache key -> index into description.records
  absl::Mutex mu;                         // serializes store->FetchLayer
  std::unique_ptr<CacheStore> store ABSL_GUARDED_BY(mu);
};

// A step result a session saw: its cache key, snapshot ("" = empty filesystem) and name.
struct RecordedStep {
  base::Digest key;
  std::string snapshot;
  std::string description;
};

class RemoteCacheSeam;

// One build's imports and exports, registered with the seam for the build's lifetime.
class BuildSession {
 public:
  ~BuildSession();
  BuildSession(const BuildSession&) = delete;
  BuildSession& operator=(const BuildSession&) = delete;

  // Warnings so far (imports that could not be read, layers that could not be fetched, exports
  // that failed with ignore-error=true), cleared by the call.
  std::vector<std::string> TakeWarnings();

  // Writes every --export-cache of the build whose final result is `top`. `source_date_epoch`
  // is the build's (it selects the same layer blobs as the image). An export error fails
  // unless its ignore-error=true (then a warning).
  absl::Status Export(const std::string& top, std::optional<int64_t> source_date_epoch);
  // After a failed build: the exports with on-failure=true write every step that finished.
  // Their errors become warnings (the build's own error is what matters).
  void ExportAfterFailure(std::optional<int64_t> source_date_epoch);

 private:
  friend class RemoteCacheSeam;
  absl::Status ExportSteps(const std::string& top, bool failed,
                           std::optional<int64_t> source_date_epoch);
  explicit BuildSession(RemoteCacheSeam* seam) : seam_(seam) {}
  void Warn(std::string w);
  void Record(const RecordedStep& step);

  RemoteCacheSeam* seam_;
  std::set<base::Digest> vertices_;  // the digests of the build's vertices (immutable)
  std::vector<CacheExport> exports_;
  RegistryClientFactory clients_;
  std::vector<std::shared_ptr<ImportedCache>> imports_;
  absl::Mutex mu_;
  std::vector<std::string> warnings_ ABSL_GUARDED_BY(mu_);
  std::map<base::Digest, RecordedStep> recorded_ ABSL_GUARDED_BY(mu_);
};

class RemoteCacheSeam : public solver::CacheSeam {
 public:
  // `local` is the local seam over `index`; `state_dir` keeps the created times of imported
  // results. Pointers are not owned and must outlive the seam.
  RemoteCacheSeam(solver::CacheSeam* local, const Worker* worker, LayerStore* layers,
                  cache::CacheIndex* index, std::string state_dir)
      : local_(local),
        worker_(worker),
        layers_(layers),
        index_(index),
        state_dir_(std::move(state_dir)) {}

  absl::StatusOr<solver::ResultRef> Lookup(const base::Digest& key,
                                           const solver::Vertex& vertex) override;
  absl::Status Save(const base::Digest& key, const solver::ResultRef& result,
                    const solver::Vertex& vertex) override;

  // Registers a build: reads every import (registry ones through `clients`) (only manifests and
  // descriptions; an unreadable one is a warning) and keeps the exports for BuildSession::Export.
  // `vertices` are the digests of the build's vertices. The session unregisters on destruction.
  std::unique_ptr<BuildSession> BeginBuild(const std::vector<CacheImport>& imports,
                                           std::vector<CacheExport> exports,
                                           std::set<base::Digest> vertices,
                                           RegistryClientFactory clients = {});

  // The image creation time of an imported result's snapshot (what the exporting machine's
  // image said), or nullopt for a snapshot not materialized from an import.
  std::optional<int64_t> ImportedCreated(const std::string& snapshot) const;
  // ImportedCreated, else the snapshot's own creation time (0 if unknown).
  int64_t CreatedOf(const std::string& snapshot) const;

  const Worker& worker() const { return *worker_; }
  LayerStore& layers() const { return *layers_; }

 private:
  friend class BuildSession;
  void Unregister(BuildSession* s);
  // Applies the chain of `entry` and records it locally; nullopt-free: errors are the caller's
  // warning.
  absl::Status Materialize(const base::Digest& key, ImportedCache& from, const CacheEntry& entry);
  void RecordFor(const solver::Vertex& vertex, const base::Digest& key,
                 const solver::ResultRef& result);

  solver::CacheSeam* local_;
  const Worker* worker_;
  LayerStore* layers_;
  cache::CacheIndex* index_;
  std::string state_dir_;
  mutable absl::Mutex mu_;
  std::set<BuildSession*> sessions_ ABSL_GUARDED_BY(mu_);
};

}  // namespace kiln::engine::remotecache

#endif  // KILN_ENGINE_REMOTECACHE_REMOTE_CACHE_SEAM_H_
