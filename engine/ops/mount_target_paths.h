// MountTargetPaths: RUN --mount targets that do not exist in the rootfs are created by the sandbox
// (directories, or an empty file for a file bind) so the mount has somewhere to go. Like
// BuildKit, they must not end up in the step's snapshot: Find() records, before the run, which
// path components are missing; Remove() deletes what is left of them after the run, deepest
// first, as long as each is still an empty directory or an empty regular file (anything the
// command put there is kept), and restores the modification time of the directory they were
// created in.
//
// Paths are resolved inside the root (openat2 RESOLVE_IN_ROOT). A value type; not thread-safe.
#ifndef KILN_ENGINE_OPS_MOUNT_TARGET_PATHS_H_
#define KILN_ENGINE_OPS_MOUNT_TARGET_PATHS_H_

#include <time.h>

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace kiln::engine {

class MountTargetPaths {
 public:
  // Looks up every target (absolute container path) in the tree at `root_fd`.
  static absl::StatusOr<MountTargetPaths> Find(int root_fd, const std::vector<std::string>& targets);

  bool empty() const { return created_.empty(); }
  // The paths the run will create, top-down per target (for tests and messages).
  std::vector<std::string> Paths() const;

  // Removes the targets_made from the tree at `root_fd` (the same tree after the run).
  absl::Status Remove(int root_fd) const;

 private:
  struct Created {
    std::string parent;                    // existing directory they are created in ("" = root)
    std::vector<std::string> created;      // relative paths, top-down
    struct timespec parent_times[2] = {};  // atime, mtime of `parent` before the run
  };
  std::vector<Created> created_;
};

}  // namespace kiln::engine

#endif  // KILN_ENGINE_OPS_MOUNT_TARGET_PATHS_H_
