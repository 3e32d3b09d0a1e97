// Internal: lexical path helpers and rooted opens shared by the copy, hash and archive code.
#ifndef KILN_ENGINE_COPY_COPY_PATHS_H_
#define KILN_ENGINE_COPY_COPY_PATHS_H_

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace kiln::engine::internal {

// openat2(root, rel, flags | O_CLOEXEC) with RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS ("" is the
// root itself); retries EAGAIN. Returns the fd or -1 with errno set.
int OpenInRoot(int root, const std::string& rel, uint64_t flags, mode_t mode = 0);

// openat2 with RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS: `rel` must be a
// clean path of real directories (no symlink anywhere, not even the last component).
int OpenBeneathNoSymlinks(int root, const std::string& rel, uint64_t flags, mode_t mode = 0);

// Lexically cleans a path into components relative to the root ("" for the root itself).
// ".." never climbs above the root, as RESOLVE_IN_ROOT would do.
std::vector<std::string> Components(std::string_view path);

// The first `n` components joined with '/'.
std::string Join(const std::vector<std::string>& comps, size_t n);
inline std::string Join(const std::vector<std::string>& comps) { return Join(comps, comps.size()); }

// Components(path) joined: "a/./b/../c" -> "a/c"; "/" -> "".
std::string Clean(std::string_view path);

// "a" + "b" -> "a/b"; either side empty gives the other.
std::string JoinRel(const std::string& a, const std::string& b);

// True when `s` contains a wildcard character (* ? [ or a \ escape).
bool HasGlob(std::string_view s);

}  // namespace kiln::engine::internal

#endif  // KILN_ENGINE_COPY_COPY_PATHS_H_
