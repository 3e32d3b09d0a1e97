// LayerStore: the OCI layer (blob in the content store) of each committed snapshot relative to
// its parent. Layers are lazy: a step's result is a snapshot, and it is diffed, tarred and
// compressed only when an exporter first needs it; after that the blob is reused. Layers of
// unpacked base images are recorded at unpack time, so their original blobs are reused too.
// Thread-safe.
#ifndef KILN_ENGINE_OPS_LAYERS_H_
#define KILN_ENGINE_OPS_LAYERS_H_

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "base/digest.h"
#include "engine/ops/worker.h"
#include "snapshotter/diff/layer.h"

namespace kiln::engine {

struct LayerInfo {
  base::Digest digest;   // compressed blob
  base::Digest diff_id;  // uncompressed tar
  int64_t size = 0;      // blob size
  std::string media_type;
};

class LayerStore {
 public:
  // Memo files live in `dir` (created if missing).
  static absl::StatusOr<std::unique_ptr<LayerStore>> Open(const Worker* worker, std::string dir);

  // Records the layer of `snapshot` (e.g. the original blob of an unpacked image layer).
  absl::Status Record(const std::string& snapshot, const LayerInfo& layer);

  // The layer of `snapshot`, making it (diff + compress into the content store) if unknown or
  // if its blob vanished. `source_date_epoch` clamps mtimes (reproducible builds). A recorded
  // original blob is reused whatever compression is asked (unless an epoch asks for a
  // rewrite); `c` = nullopt reuses any layer already made and makes an uncompressed one.
  absl::StatusOr<LayerInfo> LayerOf(const std::string& snapshot,
                                    std::optional<snapshotter::Compression> c,
                                    std::optional<int64_t> source_date_epoch);

  // One memo file: the snapshot it belongs to, its name in the memo dir, and the layer it
  // records (nullopt when unreadable). The memo is a GC edge snapshot -> layer blob.
  struct Memo {
    std::string snapshot;
    std::string file;
    std::optional<LayerInfo> layer;
  };
  // Calls `fn` for every memo file (a missing blob is not checked here).
  absl::Status WalkMemos(const std::function<void(const Memo&)>& fn) const;
  // Removes every memo file of `snapshot`; the caller makes sure the snapshot is gone.
  absl::Status RemoveMemoFiles(const std::string& snapshot);

  // The committed snapshots from the bottom of `snapshot`'s chain to `snapshot` itself.
  absl::StatusOr<std::vector<std::string>> Chain(const std::string& snapshot);

 private:
  LayerStore(const Worker* worker, std::string dir) : worker_(worker), dir_(std::move(dir)) {}
  std::string MemoPath(const std::string& snapshot, snapshotter::Compression c,
                       std::optional<int64_t> epoch, bool original = false) const;
  std::optional<LayerInfo> ReadMemo(const std::string& path) const;
  absl::Status WriteMemo(const std::string& path, const LayerInfo& layer) const;
  absl::StatusOr<LayerInfo> MakeLayer(const std::string& snapshot, snapshotter::Compression c,
                                      std::optional<int64_t> epoch);

  const Worker* worker_;
  std::string dir_;
};

}  // namespace kiln::engine

#endif  // KILN_ENGINE_OPS_LAYERS_H_
