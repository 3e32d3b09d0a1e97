// fd-first file system primitives: the one copy of each that every folder uses.
//
// Inside an untrusted tree (a build context, a rootfs, a layer being applied) a path is never
// joined to a string and reopened: it is resolved from a directory fd with openat2, so neither
// a symlink nor ".." can lead outside. The primitives here are:
//   OpenAt2 / OpenInRoot   openat2 with RESOLVE_IN_ROOT or RESOLVE_BENEATH (+ NO_SYMLINKS)
//   ForEachDirEntry/ListDir  list a directory fd (never "." or "..")
//   MkdirAllAt / MkdirAll  mkdir -p inside a root fd (never following symlinks), or on a host path
//   RemoveTreeAt / RemoveTree (temp_dir.h)  remove a tree from its parent fd, never following a
//                          symlink and never crossing into another mount
//   WriteFileAtomicallyAt / WriteFileAtomically  temp file + fsync + rename (+ directory fsync)
// All are thread-safe (they keep no state beyond a counter for temp names). Errors read
// "<verb> '<path>': <cause> (<ENAME>)" with the code absl::ErrnoToStatus picks (ENOENT is
// NotFound); a kernel without openat2 gives FailedPrecondition.
#ifndef KILN_BASE_FS_H_
#define KILN_BASE_FS_H_

#include <dirent.h>
#include <linux/openat2.h>
#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "base/unique_fd.h"

namespace kiln::base {

// openat2 resolve modes. Each forbids magic links (/proc/self/fd/N and friends).
// kInRoot: the fd is "/" for the lookup; absolute symlinks and ".." stay inside it.
inline constexpr uint64_t kResolveInRoot = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
// kBeneath: a lookup that would leave the fd (by "..", an absolute name or a symlink) is EXDEV.
inline constexpr uint64_t kResolveBeneath = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
// kBeneathNoSymlinks: as kBeneath, and any symlink on the way is ELOOP.
inline constexpr uint64_t kResolveBeneathNoSymlinks =
    RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;

// The raw call, for callers that branch on errno: openat2(dirfd, rel, flags | O_CLOEXEC, mode,
// resolve), "" meaning ".", retried on EINTR and (a bounded number of times) on EAGAIN, which
// the kernel returns when a rename raced the lookup. Returns the fd, or -1 with errno set
// (ENOSYS on kernels before 5.6).
int OpenAt2(int dirfd, std::string_view rel, int flags, mode_t mode, uint64_t resolve);

// The same as a Status: "open '<rel>': cause". FailedPrecondition when the kernel lacks openat2.
absl::StatusOr<UniqueFd> OpenInRoot(int root_fd, std::string_view rel, int flags,
                                    uint64_t resolve = kResolveInRoot, mode_t mode = 0);

// One directory entry. `type` is the d_type readdir gave (DT_UNKNOWN on some file systems).
struct DirEntry {
  std::string name;
  unsigned char type = DT_UNKNOWN;
};

// Calls fn for each entry of the directory `dir_fd` (an O_PATH fd is fine; its offset is not
// used), in readdir order, never "." or "..", until fn returns false. `what` names the
// directory in errors ("list directory '<what>': ...").
absl::Status ForEachDirEntry(int dir_fd, const std::function<bool(const DirEntry&)>& fn,
                             std::string_view what = "");

// All entries of `dir_fd`, sorted by name when `sorted`.
absl::StatusOr<std::vector<DirEntry>> ListDir(int dir_fd, bool sorted = false,
                                              std::string_view what = "");
// Their names only.
absl::StatusOr<std::vector<std::string>> ListDirNames(int dir_fd, bool sorted = false,
                                                      std::string_view what = "");

// mkdir -p of `rel` below `root_fd`, one component at a time with mkdirat/openat(O_NOFOLLOW):
// a symlink on the way is an error (ELOOP/ENOTDIR: "mkdir '<rel>': ..."), never followed, and
// ".." or a NUL byte is InvalidArgument. Existing directories are kept as they are; new ones
// get `mode` (less the umask). Returns an O_DIRECTORY fd of the last directory ("" is root_fd).
absl::StatusOr<UniqueFd> MkdirAllAt(int root_fd, std::string_view rel, mode_t mode);

// mkdir -p of a trusted host path (a state dir an administrator chose: symlinks in it are
// followed, as mkdir -p does). Existing directories are fine.
absl::Status MkdirAll(const std::string& path, mode_t mode);

struct RemoveTreeOptions {
  // Remove inside directories that sit on another device (a mount point). Off: such a
  // directory is an error and nothing in it is touched.
  bool cross_devices = false;
  // The tree's name in errors ("remove tree '<shown_as>': ..."); the entry name if empty.
  std::string_view shown_as;
};

// Removes the entry `name` of `dir_fd` (a file, a symlink itself, or a directory and
// everything below it) without following symlinks, making directories writable where they
// are not. A missing entry is fine; a tree deeper than 4096 levels is FailedPrecondition.
// InvalidArgument, and nothing touched, for a `name` that is "", ".", "..", or holds a "/" or
// a NUL byte.
absl::Status RemoveTreeAt(int dir_fd, std::string_view name, const RemoveTreeOptions& options = {});

struct WriteFileOptions {
  mode_t mode = 0644;     // of the new file, less the umask
  bool sync = true;       // fsync the file before the rename
  bool sync_dir = false;  // fsync the directory after the rename (the rename is durable)
  // Shown in errors in front of the file name ("<where>/<name>"); informational only.
  std::string_view where;
};

// Writes `name` in `dir_fd` atomically: a new temp file in the same directory (O_EXCL,
// O_NOFOLLOW), `fill(fd)` writes it, then fsync, renameat over `name`, and the directory's
// fsync as `options` say. On any failure the temp file is removed and `name` is untouched.
absl::Status WriteFileAtomicallyAt(int dir_fd, std::string_view name,
                                   const std::function<absl::Status(int fd)>& fill,
                                   const WriteFileOptions& options = {});
absl::Status WriteFileAtomicallyAt(int dir_fd, std::string_view name, std::string_view data,
                                   const WriteFileOptions& options = {});
// The same for a path (its directory is opened, following symlinks: a trusted path).
absl::Status WriteFileAtomically(const std::string& path, std::string_view data,
                                 const WriteFileOptions& options = {});
absl::Status WriteFileAtomically(const std::string& path,
                                 const std::function<absl::Status(int fd)>& fill,
                                 const WriteFileOptions& options = {});

// Writes all of `data` to `fd`, retrying short writes and EINTR. `what` names the file in errors.
absl::Status WriteAll(int fd, std::string_view data, std::string_view what);

// Reads `fd` to its end; DataLoss ("read '<what>': larger than <limit> bytes") past `limit`.
absl::StatusOr<std::string> ReadAll(int fd, std::string_view what, size_t limit = size_t{1} << 30);

}  // namespace kiln::base

#endif  // KILN_BASE_FS_H_
