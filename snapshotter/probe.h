// Choosing a snapshotter: overlay where overlayfs works on the root's filesystem, native
// copies otherwise.
#ifndef KILN_SNAPSHOTTER_PROBE_H_
#define KILN_SNAPSHOTTER_PROBE_H_

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "snapshotter/local_snapshotter.h"
#include "snapshotter/snapshotter.h"

namespace kiln::snapshotter {

enum class Driver { kAuto, kOverlay, kNative };

// "auto", "overlay", "native".
std::string_view DriverName(Driver driver);

// Mounts a two-layer overlay (with "userxattr" inside a user namespace) in a temporary dir
// under `root` (created if missing), reads through it, deletes a lower file and checks that
// the upper dir got a whiteout. Unmounts and removes everything. OK if overlay works;
// FailedPrecondition (with the kernel's reason) if not; other codes for I/O errors.
absl::Status ProbeOverlay(const std::string& root);

struct OpenedSnapshotter {
  std::unique_ptr<Snapshotter> snapshotter;
  Driver driver = Driver::kAuto;  // the one chosen
  std::string reason;             // why native was chosen, if it was
};

// Opens the snapshotter at `root`. A root remembers its driver in <root>/driver; a new root
// with kAuto gets overlay if ProbeOverlay passes, native otherwise. InvalidArgument if
// `driver` contradicts the one recorded; errors of the snapshotter's Open otherwise.
absl::StatusOr<OpenedSnapshotter> OpenSnapshotter(const std::string& root, Driver driver,
                                                  const LocalSnapshotterOptions& options = {});

}  // namespace kiln::snapshotter

#endif  // KILN_SNAPSHOTTER_PROBE_H_
