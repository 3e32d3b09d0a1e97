// OverlaySnapshotter: snapshots as kernel overlayfs layers.
//
// Each snapshot owns <root>/snapshots/<id>/fs (its layer: the upper dir while active) and,
// while active with a parent, <id>/work (overlay's work dir). Mounts:
//   - active, no parent:   rw bind of fs
//   - active with parent:  overlay, "lowerdir+" per parent layer (top-most first), upperdir=fs,
//                          workdir=work
//   - view of one layer:   ro bind of that layer; of several: overlay of lowers only, "ro"
// Every overlay mount pins "index=off", "redirect_dir=nofollow" and "metacopy=off", so upper
// dirs always hold whole files and plain whiteouts whatever the module defaults are. Inside a
// user namespace it also carries "userxattr" (opaque markers then live in user.overlay.*).
//
// Deep chains: when a Commit would make a chain need more than
// LocalSnapshotterOptions::max_lower_dirs lower dirs, the snapshot gets <id>/flat, a merged
// copy of its whole chain with whiteouts applied, which stands in for the chain from then on.
// So no mount ever stacks more than max_lower_dirs layers (the kernel's limit is 500).
//
// Thread-safe (see LocalSnapshotter).
#ifndef KILN_SNAPSHOTTER_OVERLAY_SNAPSHOTTER_H_
#define KILN_SNAPSHOTTER_OVERLAY_SNAPSHOTTER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "snapshotter/local_snapshotter.h"

namespace kiln::snapshotter {

class OverlaySnapshotter : public internal::LocalSnapshotter {
 public:
  // Opens (creating if needed) the snapshotter rooted at `root` and cleans up after
  // interrupted operations. FailedPrecondition if another snapshotter holds the root.
  // Does not check that overlayfs works here; see ProbeOverlay (snapshotter/probe.h).
  static absl::StatusOr<std::unique_ptr<OverlaySnapshotter>> Open(
      const std::string& root, const LocalSnapshotterOptions& options = {});

 protected:
  absl::Status CreateLayer(uint64_t id, Kind kind,
                           const std::vector<std::string>& parent_stack) override;
  std::vector<base::Mount> MountsFor(const SnapshotRecord& record,
                                     const std::vector<std::string>& parent_stack) override;
  absl::Status PrepareCommit(SnapshotRecord& record,
                             const std::vector<std::string>& parent_stack) override;
  void Committed(const SnapshotRecord& record) override;
  absl::Status RecoverLayer(const SnapshotRecord& record) override;
  std::string StackDir(const SnapshotRecord& record) const override;

 private:
  OverlaySnapshotter(std::string root, LocalSnapshotterOptions options, bool userxattr);
  // Writes <id>/flat from `layers` (top-most first).
  absl::Status Flatten(uint64_t id, const std::vector<std::string>& layers);

  const bool userxattr_;
  const int max_lower_dirs_;
};

}  // namespace kiln::snapshotter

#endif  // KILN_SNAPSHOTTER_OVERLAY_SNAPSHOTTER_H_
