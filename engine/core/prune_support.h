// The engine's side of Prune around cache::GarbageCollector: GC's snapshot side over a
// Snapshotter, its roots (stored images, layer memos of live snapshots), and the removal of
// orphan snapshots and of memos whose snapshot is gone. Each runs while builds run: what a
// build uses is held by leases (cache/lease.h), and an image stored after a mark moves the
// image store's version, which makes GC mark again.
#ifndef KILN_ENGINE_CORE_PRUNE_SUPPORT_H_
#define KILN_ENGINE_CORE_PRUNE_SUPPORT_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "base/digest.h"
#include "cache/cache_index.h"
#include "cache/content_store.h"
#include "cache/gc.h"
#include "cache/lease.h"
#include "engine/image/image_store.h"
#include "engine/ops/layers.h"
#include "snapshotter/snapshotter.h"

namespace kiln::engine {

// cache::SnapshotRemover over a snapshotter ("" is the empty filesystem: nothing to remove).
class SnapshotterRemover : public cache::SnapshotRemover {
 public:
  explicit SnapshotterRemover(snapshotter::Snapshotter* s) : s_(s) {}
  absl::Status Remove(const std::string& key) override;
  absl::StatusOr<int64_t> Usage(const std::string& key) override;

 private:
  snapshotter::Snapshotter* s_;
};

// GC roots: blobs reachable from the image store, and the layer blobs that memos record for
// snapshots that still exist. The pointed-to objects must outlive it. Thread-safe.
class EngineGcReferences : public cache::GcReferences {
 public:
  EngineGcReferences(image::ImageStore* images, LayerStore* layers,
                     snapshotter::Snapshotter* snapshots)
      : images_(images), layers_(layers), snapshots_(snapshots) {}
  absl::Status MarkRoots(absl::flat_hash_set<base::Digest>* live) override;
  uint64_t RootsVersion() override { return images_->version(); }
  absl::Status SnapshotBlobs(absl::flat_hash_set<base::Digest>* live) override;

 private:
  image::ImageStore* images_;
  LayerStore* layers_;
  snapshotter::Snapshotter* snapshots_;
};

struct OrphanRemoval {
  int count = 0;
  int64_t bytes = 0;
};

// Removes committed snapshots that no cache record refers to (children before parents) and
// returns how many went and the bytes freed. Skips held snapshots, and while anything runs
// (`oldest_running` gives the start of the oldest running build, or nullopt) also orphans committed
// since then (a step's output between its commit and its record) and "layer-" snapshots (base-image
// layers that an unpack reuses by name).
absl::StatusOr<OrphanRemoval> RemoveOrphanSnapshots(
    snapshotter::Snapshotter& snapshots, cache::CacheIndex& index, cache::LeaseManager& leases,
    const std::function<std::optional<absl::Time>()>& oldest_running);

// Removes the memo files of snapshots that are gone: each only after taking the snapshot's
// removal guard (no build holds it) and seeing under it that the snapshot does not exist.
// Returns how many snapshots' memos went.
absl::StatusOr<int> RemoveOrphanLayerMemos(LayerStore& layers, snapshotter::Snapshotter& snapshots,
                                           cache::LeaseManager& leases);

}  // namespace kiln::engine

#endif  // KILN_ENGINE_CORE_PRUNE_SUPPORT_H_
