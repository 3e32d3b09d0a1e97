// TempDir: a directory created with mkdtemp and removed (recursively, without following
// symlinks) when the owner goes away.
#ifndef KILN_BASE_TEMP_DIR_H_
#define KILN_BASE_TEMP_DIR_H_

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace kiln::base {

class TempDir {
 public:
  // Creates "<parent>/<prefix>XXXXXX". `parent` defaults to $TMPDIR or /tmp.
  static absl::StatusOr<TempDir> Create(std::string_view prefix = "kiln-",
                                        std::string_view parent = "");
  TempDir() = default;
  ~TempDir();
  TempDir(TempDir&& other) noexcept;
  TempDir& operator=(TempDir&& other) noexcept;
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  // Keeps the directory on destruction and returns its path.
  std::string Release();

 private:
  explicit TempDir(std::string path) : path_(std::move(path)) {}
  std::string path_;
};

// Removes a tree without following symlinks, making directories writable where needed
// (base::RemoveTreeAt from the parent directory's fd). Missing paths are fine. A directory on
// another file system (a mount point) inside the tree is FailedPrecondition, with nothing in it
// touched. InvalidArgument, and nothing removed, for "", "/", a path ending in "." or any path
// with a ".." component.
absl::Status RemoveTree(const std::string& path);

}  // namespace kiln::base

#endif  // KILN_BASE_TEMP_DIR_H_
