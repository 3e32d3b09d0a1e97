// MountSource: the root a RUN --mount=type=bind (or a cache mount's `from`) reads from,
// opened as a directory fd: the build context in place, or a stage/image snapshot mounted
// read-only. Paths inside it are resolved with openat2(RESOLVE_IN_ROOT), so symlinks in a
// hostile context or stage never lead out of it.
//
// Content digest (what a bind mount puts into the step's cache key, like COPY):
//   context: "ctx:" + the persisted checksum cache's digest of the selected path, with the
//            context's .dockerignore patterns applied (a no-op rebuild only stats files);
//   snapshot: "snap:" + HashSources of the selected path with owners (engine/copy/copy.h).
// Never the source's own cache key, so a stage rebuilt to identical bytes keeps the step cached.
//
// Not thread-safe; one per use. The destructor unmounts and removes the snapshot view.
#ifndef KILN_ENGINE_OPS_EXEC_MOUNT_SOURCE_H_
#define KILN_ENGINE_OPS_EXEC_MOUNT_SOURCE_H_

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "base/unique_fd.h"
#include "engine/copy/excludes.h"
#include "engine/ops/worker.h"
#include "engine/solver/op.h"
#include "snapshotter/snapshotter.h"

namespace kiln::engine {

class ContextChecksums;

// What RUN --mount uses of the engine (borrowed; they outlive every run).
struct MountServices {
  snapshotter::Snapshotter* snapshots = nullptr;  // views of stage and image sources
  ContextChecksums* checksums = nullptr;          // persisted context checksums; may be null
  std::string tmp;                                // engine-private mount points, scratch dirs
  std::string cache_mounts_dir;                   // RUN --mount=type=cache directories
};

class MountSource {
 public:
  // Opens `in` (a ContextResult or SnapshotResult). InvalidArgument for other results.
  static absl::StatusOr<std::unique_ptr<MountSource>> Open(const MountServices& w,
                                                           const solver::InputRef& in);
  ~MountSource();
  MountSource(const MountSource&) = delete;
  MountSource& operator=(const MountSource&) = delete;

  struct Resolved {
    std::string rel;    // path relative to the root after resolving symlinks ("" = root)
    base::UniqueFd fd;  // O_PATH fd of it
    bool is_dir = false;
  };
  // Resolves `source` (absolute, as in the Dockerfile) inside the root. NotFound if missing.
  absl::StatusOr<Resolved> Resolve(std::string_view source) const;

  // The content digest of `r` (see the file comment). Sets *excluded when the context's
  // patterns left something under `r` out (the mount must then be a filtered copy).
  absl::StatusOr<std::string> ContentDigest(const Resolved& r, bool* excluded) const;

  int fd() const { return fd_.get(); }
  bool is_context() const { return !context_dir_.empty(); }
  const ExcludeFn& exclude() const { return exclude_; }

 private:
  MountSource() = default;
  const MountServices* services_ = nullptr;
  std::string context_dir_;  // set for the build context
  std::string root_path_;    // the root as the kernel names it (readlink of fd_)
  ExcludeFn exclude_;
  std::string view_key_;
  MountedSnapshot mounted_;
  base::UniqueFd fd_;
};

}  // namespace kiln::engine

#endif  // KILN_ENGINE_OPS_EXEC_MOUNT_SOURCE_H_
