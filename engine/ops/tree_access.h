// TreeAccess: how an op reaches the filesystem tree of a snapshot. Snapshotters describe
// mounts (snapshotter.h); an op that reads or writes a snapshot's files (COPY, WORKDIR, the
// targets of RUN --mount, unpacking a layer) asks a TreeAccess to open that description as a
// directory, works from the fd (openat2 inside it), and closes the tree before it commits.
//
//   MountTreeAccess: mounts the description on a private temp dir (overlay with userxattr,
//                    as the sandbox mounts it) and unmounts on Close: real builds.
//   DirTreeAccess:   mount-free; accepts only a single bind mount and opens its source
//                    directly: snapshotters whose snapshots are plain directories, such as the
//                    tests' InMemorySnapshotter with trees, so engine tests need no root.
//
// Both are thread-safe (Open may be called concurrently); a Tree is used by one thread.
#ifndef KILN_ENGINE_OPS_TREE_ACCESS_H_
#define KILN_ENGINE_OPS_TREE_ACCESS_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "base/mount.h"
#include "base/unique_fd.h"

namespace kiln::engine {

// An open snapshot tree. Closes (unmounting if it was mounted) on destruction, ignoring errors;
// call Close() to see them (before committing the snapshot). Move-only.
class Tree {
 public:
  Tree(base::UniqueFd fd, std::string path, std::function<absl::Status()> release = nullptr)
      : fd_(std::move(fd)), path_(std::move(path)), release_(std::move(release)) {}
  ~Tree() { (void)Close(); }
  Tree(Tree&&) = default;
  Tree& operator=(Tree&&) = default;
  Tree(const Tree&) = delete;
  Tree& operator=(const Tree&) = delete;

  // A directory fd of the tree's root; valid until Close.
  int fd() const { return fd_.get(); }
  // A path naming the root, for the few APIs that take paths (layer apply).
  const std::string& path() const { return path_; }
  // Closes the fd and releases the tree (unmounts). Idempotent.
  absl::Status Close();

 private:
  base::UniqueFd fd_;
  std::string path_;
  std::function<absl::Status()> release_;
};

class TreeAccess {
 public:
  virtual ~TreeAccess() = default;
  // Opens the tree `mounts` describe (what Snapshotter::Prepare/View/Mounts returned).
  // InvalidArgument for a description this access cannot open; errno codes otherwise.
  virtual absl::StatusOr<Tree> Open(const std::vector<base::Mount>& mounts) const = 0;
};

class MountTreeAccess final : public TreeAccess {
 public:
  // Mount points are made in `tmp` (an engine-private directory).
  explicit MountTreeAccess(std::string tmp) : tmp_(std::move(tmp)) {}
  absl::StatusOr<Tree> Open(const std::vector<base::Mount>& mounts) const override;

 private:
  std::string tmp_;
};

class DirTreeAccess final : public TreeAccess {
 public:
  absl::StatusOr<Tree> Open(const std::vector<base::Mount>& mounts) const override;
};

}  // namespace kiln::engine

#endif  // KILN_ENGINE_OPS_TREE_ACCESS_H_
