// Worker: the storage resources and settings the engine wires together (content store,
// snapshotter, state dirs, checksums, leases). The ops never see it: MakeBuildOpFactory
// (build_ops.h) hands each op only what it uses (ExecOpDeps, FileOpDeps). The layer store,
// the exporter, the cache seam and FROM's unpacking still take it. Also: scoped helpers to
// mount snapshots (the ops reach trees through TreeAccess, tree_access.h).
#ifndef KILN_ENGINE_OPS_WORKER_H_
#define KILN_ENGINE_OPS_WORKER_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "base/mount.h"
#include "base/temp_dir.h"
#include "base/unique_fd.h"
#include "cache/content_store.h"
#include "cache/lease.h"
#include "snapshotter/snapshotter.h"

namespace kiln::engine {

class ContextChecksums;
class CopyReuse;

struct Worker {
  cache::ContentStore* content = nullptr;         // not owned
  snapshotter::Snapshotter* snapshots = nullptr;  // not owned
  std::string driver;                             // "overlay" or "native"
  std::string root;                               // engine state root
  std::string tmp;                                // root/tmp: mount points and scratch files
  std::string default_network = "default";
  ContextChecksums* checksums = nullptr;  // not owned; persisted context checksums
  cache::LeaseManager* leases = nullptr;  // not owned; holds that keep GC off in-use data
  CopyReuse* copy_reuse = nullptr;        // not owned; incremental COPY (may be null)
};

// A unique snapshot key ("<prefix>-<random hex>").
std::string NewSnapshotKey(std::string_view prefix);

// Overlay mounts with "userxattr" everywhere: the sandbox mounts rootfs overlays inside a user
// namespace, where only user.overlay.* xattrs work, so every mount of a snapshot uses them.
std::vector<base::Mount> ForUserXattr(std::vector<base::Mount> mounts);

// An active (or view) snapshot mounted on a temp dir. Unmounts on destruction; the snapshot
// itself is committed or removed by the owner.
class MountedSnapshot {
 public:
  // Mounts `m` on a new temp dir under `tmp`.
  static absl::StatusOr<MountedSnapshot> Mount(const std::string& tmp,
                                               const std::vector<base::Mount>& m);
  static absl::StatusOr<MountedSnapshot> Mount(const Worker& w, const std::vector<base::Mount>& m) {
    return Mount(w.tmp, m);
  }
  MountedSnapshot() = default;
  MountedSnapshot(MountedSnapshot&&) = default;
  MountedSnapshot& operator=(MountedSnapshot&&) = default;
  ~MountedSnapshot();

  const std::string& path() const { return dir_.path(); }
  // O_PATH-free directory fd of the mounted root (opened on demand).
  absl::StatusOr<base::UniqueFd> OpenRoot() const;
  // Unmounts now (before Commit), reporting errors.
  absl::Status Unmount();

 private:
  base::TempDir dir_;
  base::ScopedMount mount_;
};

}  // namespace kiln::engine

#endif  // KILN_ENGINE_OPS_WORKER_H_
