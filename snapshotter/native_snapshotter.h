// NativeSnapshotter: snapshots as plain directory trees, for filesystems or kernels where
// overlayfs is unavailable (and as a cross-check of the overlay snapshotter in tests).
//
// Each snapshot owns <root>/snapshots/<id>/fs, a full tree. Prepare copies the parent's tree
// (modes, ownership, xattrs, hardlinks, symlinks, devices where allowed, times), so its cost
// grows with the tree. Mounts are binds: rw for active snapshots, ro of the parent's tree for
// views. Chains never stack, so depth is unlimited.
//
// Thread-safe (see LocalSnapshotter).
#ifndef KILN_SNAPSHOTTER_NATIVE_SNAPSHOTTER_H_
#define KILN_SNAPSHOTTER_NATIVE_SNAPSHOTTER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "snapshotter/local_snapshotter.h"

namespace kiln::snapshotter {

class NativeSnapshotter : public internal::LocalSnapshotter {
 public:
  // Opens (creating if needed) the snapshotter rooted at `root` and cleans up after
  // interrupted operations. FailedPrecondition if another snapshotter holds the root.
  static absl::StatusOr<std::unique_ptr<NativeSnapshotter>> Open(
      const std::string& root, const LocalSnapshotterOptions& options = {});

 protected:
  absl::Status CreateLayer(uint64_t id, Kind kind,
                           const std::vector<std::string>& parent_stack) override;
  std::vector<base::Mount> MountsFor(const SnapshotRecord& record,
                                     const std::vector<std::string>& parent_stack) override;
  absl::Status PrepareCommit(SnapshotRecord& record,
                             const std::vector<std::string>& parent_stack) override;
  absl::Status RecoverLayer(const SnapshotRecord& record) override;
  std::string StackDir(const SnapshotRecord& record) const override;

 private:
  using LocalSnapshotter::LocalSnapshotter;
};

}  // namespace kiln::snapshotter

#endif  // KILN_SNAPSHOTTER_NATIVE_SNAPSHOTTER_H_
