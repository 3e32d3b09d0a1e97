// Internal: fd-relative file-system helpers shared by the differ and the applier.
#ifndef KILN_SNAPSHOTTER_DIFF_FS_UTIL_H_
#define KILN_SNAPSHOTTER_DIFF_FS_UTIL_H_

#include <sys/stat.h>

#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "base/unique_fd.h"

namespace kiln::snapshotter::internal {

using Xattrs = std::vector<std::pair<std::string, std::string>>;

// Opens directory `name` under `dirfd` without following a final symlink.
absl::StatusOr<base::UniqueFd> OpenDirAt(int dirfd, const std::string& name);

// Names in the directory (without "." and ".."), sorted byte-wise. `what` names the
// directory in errors.
absl::StatusOr<std::vector<std::string>> ListDir(int dirfd, const std::string& what);

// lstat of `name` under `dirfd`.
absl::StatusOr<struct stat> StatAt(int dirfd, const std::string& name, const std::string& what);

// Symlink target of `name` under `dirfd`.
absl::StatusOr<std::string> ReadLinkAt(int dirfd, const std::string& name, const std::string& what);

// All xattrs of `name` under `dirfd` (not following a symlink), sorted by name. File
// systems without xattr support give an empty list.
absl::StatusOr<Xattrs> ListXattrsAt(int dirfd, const std::string& name, const std::string& what);

// Value of one xattr, or nullopt-equivalent empty + false when absent.
bool GetXattrAt(int dirfd, const std::string& name, const char* key, std::string* value);

// Removes `name` under `dirfd` (a file, or a directory tree), never following symlinks.
// A missing entry is fine.
absl::Status RemoveAt(int dirfd, const std::string& name, const std::string& what);

// "/proc/self/fd/<dirfd>/<name>": a path that resolves `name` relative to an fd (the final
// component is not followed by l*xattr calls).
std::string FdPath(int dirfd, const std::string& name);

}  // namespace kiln::snapshotter::internal

#endif  // KILN_SNAPSHOTTER_DIFF_FS_UTIL_H_
