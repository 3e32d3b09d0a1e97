// Tree copying and merging for snapshotters, working only from directory fds (never joining
// paths and reopening, never following symlinks inside the trees).
//
// CopyTree copies `src` onto `dst` preserving file types, contents, modes, ownership, xattrs,
// hardlinks (within one copy), symlinks, fifos, device nodes where the kernel allows them
// (EPERM for a device is skipped and counted) and mtimes/atimes. Entries already in `dst` are
// replaced; directories are merged. With `overlay_layer`, `src` is read as an overlayfs upper
// layer: a 0/0 character device deletes the path in `dst`, a directory marked opaque
// ("trusted.overlay.opaque" or "user.overlay.opaque" = "y") replaces the directory in `dst`
// instead of merging into it, and overlay's private xattrs are not copied.
//
// Not thread-safe per call; separate calls on separate trees may run concurrently.
#ifndef KILN_SNAPSHOTTER_TREE_COPY_H_
#define KILN_SNAPSHOTTER_TREE_COPY_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "base/unique_fd.h"
#include "snapshotter/snapshotter.h"

namespace kiln::snapshotter::internal {

struct CopyOptions {
  bool overlay_layer = false;
};

struct CopyStats {
  int64_t entries = 0;          // entries created or replaced in dst
  int64_t whiteouts = 0;        // paths deleted by whiteouts
  int64_t skipped_devices = 0;  // device nodes the kernel refused (EPERM)
};

// Copies/merges the tree under directory fd `src_dir` into directory fd `dst_dir`, including
// the root directory's own metadata. Errors name the relative path: "copy 'a/b': cause".
absl::StatusOr<CopyStats> CopyTree(int src_dir, int dst_dir, const CopyOptions& options);

// Space and distinct inodes of the tree under `dir` (root included; hardlinks count once).
absl::StatusOr<DiskUsage> TreeUsage(int dir);

// Opens an existing directory (O_DIRECTORY|O_NOFOLLOW|O_CLOEXEC). Errors: "open 'path': ...".
absl::StatusOr<base::UniqueFd> OpenDir(const std::string& path);

}  // namespace kiln::snapshotter::internal

#endif  // KILN_SNAPSHOTTER_TREE_COPY_H_
