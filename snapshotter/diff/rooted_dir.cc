#include "snapshotter/diff/rooted_dir.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/fs.h"
#include "base/path.h"
#include "base/status.h"

namespace kiln::snapshotter::internal {

absl::StatusOr<std::string> CleanPath(const std::string& path) {
  if (base::HasDotDot(path)) {
    return absl::InvalidArgumentError(
        absl::StrCat("layer entry '", path, "': path escapes the root ('..' component)"));
  }
  return base::CleanInRoot(path);
}

std::pair<std::string, std::string> SplitPath(const std::string& path) {
  return base::SplitDirBase(path);
}

absl::StatusOr<RootedDir> RootedDir::Open(const std::string& path) {
  int fd = ::open(path.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return base::ErrnoError("open target directory '" + path + "'");
  return RootedDir(base::UniqueFd(fd), path);
}

absl::StatusOr<base::UniqueFd> RootedDir::Resolve(const std::string& rel) const {
  absl::StatusOr<base::UniqueFd> fd =
      base::OpenInRoot(root_.get(), rel, O_PATH | O_DIRECTORY, base::kResolveInRoot);
  if (fd.ok() || absl::IsFailedPrecondition(fd.status())) return fd;
  return base::Annotate(fd.status(), absl::StrCat("resolve in '", path_, "'"));
}

absl::StatusOr<base::UniqueFd> RootedDir::EnsureDir(
    const std::string& rel, const std::function<void(const std::string&)>& on_create) {
  absl::StatusOr<base::UniqueFd> fd = Resolve(rel);
  if (fd.ok() || !absl::IsNotFound(fd.status()) || rel.empty()) return fd;
  auto [parent, leaf] = SplitPath(rel);
  KILN_ASSIGN_OR_RETURN(base::UniqueFd pfd, EnsureDir(parent, on_create));
  if (::mkdirat(pfd.get(), leaf.c_str(), 0755) == 0) {
    on_create(rel);
  } else if (errno != EEXIST) {
    return base::ErrnoError(absl::StrCat("mkdir '", rel, "' in '", path_, "'"));
  }
  return Resolve(rel);
}

}  // namespace kiln::snapshotter::internal
