// Internal: a directory tree opened as a root that paths cannot escape.
//
// All lookups go through openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS) from the root fd,
// so ".." and symlinks (absolute or relative) resolve inside the root. Not thread-safe.
#ifndef KILN_SNAPSHOTTER_DIFF_ROOTED_DIR_H_
#define KILN_SNAPSHOTTER_DIFF_ROOTED_DIR_H_

#include <functional>
#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "base/unique_fd.h"

namespace kiln::snapshotter::internal {

// Normalises a tar path: strips leading '/' and "./", drops empty and "." components.
// InvalidArgument ("layer entry '<p>': ...") for a ".." component. "" means the root.
absl::StatusOr<std::string> CleanPath(const std::string& path);

// Splits "a/b/c" into {"a/b", "c"}; "c" into {"", "c"}.
std::pair<std::string, std::string> SplitPath(const std::string& path);

class RootedDir {
 public:
  // Opens `path` (must be a directory). Errors from open with the path.
  static absl::StatusOr<RootedDir> Open(const std::string& path);

  int fd() const { return root_.get(); }
  const std::string& path() const { return path_; }

  // An O_PATH fd of directory `rel` (clean, relative; "" = root), resolved inside the root.
  // NotFound if a component is missing, FailedPrecondition if openat2 is unavailable.
  absl::StatusOr<base::UniqueFd> Resolve(const std::string& rel) const;

  // Like Resolve, creating missing directories (mode 0755) one component at a time;
  // `on_create` gets the clean relative path of each directory it made.
  absl::StatusOr<base::UniqueFd> EnsureDir(
      const std::string& rel, const std::function<void(const std::string&)>& on_create);

 private:
  RootedDir(base::UniqueFd fd, std::string path) : root_(std::move(fd)), path_(std::move(path)) {}
  base::UniqueFd root_;
  std::string path_;
};

}  // namespace kiln::snapshotter::internal

#endif  // KILN_SNAPSHOTTER_DIFF_ROOTED_DIR_H_
