// Lexical path helpers: no system call, no symlink resolution. Every path Kiln cleans goes
// through here, so the rules for "." and ".." are written once.
//
// Three ways to clean, for three kinds of caller:
//   CleanPath      Go's path.Clean: "" is ".", ".." above a rooted path stays at "/", leading
//                  ".." of a relative path are kept ("../a" stays "../a").
//   CleanInRoot    a name inside a root (a context, a rootfs): a leading "/" is dropped and ".."
//                  stops at the root, as the kernel's RESOLVE_IN_ROOT does. "" is the root.
//   CleanBeneath   a name that must stay below its directory (an archive entry, an image file):
//                  a ".." that would leave it is InvalidArgument. "" is the directory itself.
// None of them reads the file system; they are thread-safe.
#ifndef KILN_BASE_PATH_H_
#define KILN_BASE_PATH_H_

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace kiln::base {

// Go's path.Clean: the shortest path equal to `path` by purely lexical processing.
std::string CleanPath(std::string_view path);

// `path` made relative to a root and cleaned; ".." never climbs above the root. "" for the root.
std::string CleanInRoot(std::string_view path);

// `path` made relative (a leading "/" is dropped) and cleaned; InvalidArgument ("path '<path>':
// leaves its directory ('..' above the top)") when a ".." would climb above the top, or when
// the path holds a NUL byte. "" for the directory itself.
absl::StatusOr<std::string> CleanBeneath(std::string_view path);

// The non-empty components of `path` other than "." (".." is kept, as it stands).
std::vector<std::string> PathComponents(std::string_view path);

// True when one component of `path` is "..".
bool HasDotDot(std::string_view path);

// "a" + "b" -> "a/b"; an empty or "." side gives the other side.
std::string JoinPath(std::string_view dir, std::string_view name);

// Splits at the last "/": "a/b/c" -> {"a/b", "c"}; "c" -> {"", "c"}; "/c" -> {"/", "c"}.
std::pair<std::string, std::string> SplitDirBase(std::string_view path);

}  // namespace kiln::base

#endif  // KILN_BASE_PATH_H_
