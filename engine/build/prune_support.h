// The engine's side of Prune around cache::GarbageCollector: GC's snapshot side over a
// Snapshotter, the image-blob mark, and the removal of orphan snapshots. Each runs while
// builds run: what a build uses is held by leases (cache/lease.h), and the callers serialize
// the mark with image stores (LocalEngine's image_mu_).
#ifndef KILN_ENGINE_BUILD_PRUNE_SUPPORT_H_
#define KILN_ENGINE_BUILD_PRUNE_SUPPORT_H_

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
#include "snapshotter/snapshotter.h"

namespace kiln::engine {

// Set on every blob a stored image reaches; GC never deletes a blob with a "kiln.gc.ref." label.
inline constexpr char kImageBlobLabel[] = "kiln.gc.ref.image";

// cache::SnapshotRemover over a snapshotter ("" is the empty filesystem: nothing to remove).
class SnapshotterRemover : public cache::SnapshotRemover {
 public:
  explicit SnapshotterRemover(snapshotter::Snapshotter* s) : s_(s) {}
  absl::Status Remove(const std::string& key) override;
  absl::StatusOr<int64_t> Usage(const std::string& key) override;

 private:
  snapshotter::Snapshotter* s_;
};

// Adds kImageBlobLabel to each of `blobs` that lacks it (no write when all have it). A build
// calls it for the image it stores, before storing it and before its lease is released.
absl::Status LabelImageBlobs(cache::ContentStore& content, const std::vector<base::Digest>& blobs);

// Mark: every blob reachable from an image in `images` gets kImageBlobLabel; blobs no image
// reaches lose it. The caller keeps images from being stored meanwhile.
absl::Status MarkImageBlobs(image::ImageStore& images, cache::ContentStore& content);

// Removes committed snapshots that no cache record refers to (children before parents) and
// returns the bytes freed. Skips held snapshots, and while anything runs (`oldest_running`
// gives the start of the oldest running build, or nullopt) also orphans committed since then
// (a step's output between its commit and its record) and "layer-" snapshots (base-image
// layers that an unpack reuses by name).
absl::StatusOr<int64_t> RemoveOrphanSnapshots(
    snapshotter::Snapshotter& snapshots, cache::CacheIndex& index, cache::LeaseManager& leases,
    const std::function<std::optional<absl::Time>()>& oldest_running);

}  // namespace kiln::engine

#endif  // KILN_ENGINE_BUILD_PRUNE_SUPPORT_H_
