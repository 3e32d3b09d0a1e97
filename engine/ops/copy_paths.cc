#include "engine/ops/copy_paths.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "base/unique_fd.h"
#include "engine/ops/copy.h"

namespace kiln::engine {
namespace internal {
namespace {

int OpenAt2(int root, const std::string& rel, uint64_t flags, mode_t mode, uint64_t resolve) {
  struct open_how how = {};
  how.flags = flags | O_CLOEXEC;
  how.mode = (flags & O_CREAT) ? mode : 0;
  how.resolve = resolve;
  const char* p = rel.empty() ? "." : rel.c_str();
  for (int attempt = 0; attempt < 8; ++attempt) {
    int fd = static_cast<int>(::syscall(SYS_openat2, root, p, &how, sizeof how));
    if (fd >= 0 || errno != EAGAIN) return fd;
  }
  return -1;
}

}  // namespace

int OpenInRoot(int root, const std::string& rel, uint64_t flags, mode_t mode) {
  return OpenAt2(root, rel, flags, mode, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
}

int OpenBeneathNoSymlinks(int root, const std::string& rel, uint64_t flags, mode_t mode) {
  return OpenAt2(root, rel, flags, mode,
                 RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS);
}

std::vector<std::string> Components(std::string_view path) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < path.size()) {
    size_t j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    std::string_view c = path.substr(i, j - i);
    if (c.empty() || c == ".") {
    } else if (c == "..") {
      if (!out.empty()) out.pop_back();
    } else {
      out.emplace_back(c);
    }
    i = j + 1;
  }
  return out;
}

std::string Join(const std::vector<std::string>& comps, size_t n) {
  std::string out;
  for (size_t i = 0; i < n && i < comps.size(); ++i) {
    if (!out.empty()) out += '/';
    out += comps[i];
  }
  return out;
}

std::string Clean(std::string_view path) { return Join(Components(path)); }

std::string JoinRel(const std::string& a, const std::string& b) {
  if (a.empty()) return b;
  if (b.empty()) return a;
  return a + "/" + b;
}

bool HasGlob(std::string_view s) { return s.find_first_of("*?[\\") != std::string_view::npos; }

}  // namespace internal

using internal::Components;
using internal::HasGlob;
using internal::JoinRel;
using internal::OpenInRoot;

absl::StatusOr<std::vector<std::string>> ExpandWildcards(int root_fd, std::string_view pattern) {
  std::vector<std::string> comps = Components(pattern);
  std::vector<std::string> matches = {""};
  for (size_t ci = 0; ci < comps.size(); ++ci) {
    const std::string& comp = comps[ci];
    bool last = ci + 1 == comps.size();
    std::vector<std::string> next;
    for (const std::string& prefix : matches) {
      if (!HasGlob(comp)) {
        std::string cand = JoinRel(prefix, comp);
        base::UniqueFd fd(OpenInRoot(root_fd, cand, O_PATH | O_NOFOLLOW | (last ? 0 : O_DIRECTORY)));
        if (fd) next.push_back(cand);
        continue;
      }
      base::UniqueFd dir(OpenInRoot(root_fd, prefix, O_RDONLY | O_DIRECTORY));
      if (!dir) continue;
      DIR* d = ::fdopendir(dir.release());
      if (d == nullptr) continue;
      while (struct dirent* e = ::readdir(d)) {
        std::string n = e->d_name;
        if (n == "." || n == "..") continue;
        if (::fnmatch(comp.c_str(), n.c_str(), 0) == 0) next.push_back(JoinRel(prefix, n));
      }
      ::closedir(d);
    }
    matches = std::move(next);
    if (matches.empty()) break;
  }
  if (matches.empty() || (matches.size() == 1 && matches[0].empty() && !comps.empty())) {
    return absl::NotFoundError(absl::StrCat("no source files match '", std::string(pattern), "'"));
  }
  std::sort(matches.begin(), matches.end());
  return matches;
}

}  // namespace kiln::engine
