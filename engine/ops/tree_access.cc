#include "engine/ops/tree_access.h"

#include <fcntl.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "base/status.h"
#include "engine/ops/worker.h"

namespace kiln::engine {

absl::Status Tree::Close() {
  fd_.reset();
  if (!release_) return absl::OkStatus();
  std::function<absl::Status()> release = std::move(release_);
  release_ = nullptr;
  return release();
}

absl::StatusOr<Tree> MountTreeAccess::Open(const std::vector<base::Mount>& mounts) const {
  KILN_ASSIGN_OR_RETURN(MountedSnapshot mounted, MountedSnapshot::Mount(tmp_, mounts));
  KILN_ASSIGN_OR_RETURN(base::UniqueFd fd, mounted.OpenRoot());
  std::string path = mounted.path();
  auto held = std::make_shared<MountedSnapshot>(std::move(mounted));
  return Tree(std::move(fd), std::move(path), [held] { return held->Unmount(); });
}

absl::StatusOr<Tree> DirTreeAccess::Open(const std::vector<base::Mount>& mounts) const {
  if (mounts.size() != 1 || mounts[0].type != "bind" || mounts[0].source.empty() ||
      mounts[0].source[0] != '/') {
    return absl::InvalidArgumentError(
        "open snapshot tree: expected one bind mount of an absolute directory");
  }
  const std::string& dir = mounts[0].source;
  base::UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) return base::ErrnoError(absl::StrCat("open snapshot tree '", dir, "'"));
  return Tree(std::move(fd), dir);
}

}  // namespace kiln::engine
