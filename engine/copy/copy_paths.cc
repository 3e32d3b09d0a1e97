#include "engine/copy/copy_paths.h"

#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <unistd.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "base/fs.h"
#include "base/path.h"
#include "base/unique_fd.h"
#include "engine/copy/copy.h"

namespace kiln::engine {
namespace internal {
namespace {

int OpenAt2(int root, const std::string& rel, uint64_t flags, mode_t mode, uint64_t resolve) {
  return base::OpenAt2(root, rel, static_cast<int>(flags), mode, resolve);
}

}  // namespace

int OpenInRoot(int root, const std::string& rel, uint64_t flags, mode_t mode) {
  return OpenAt2(root, rel, flags, mode, base::kResolveInRoot);
}

int OpenBeneathNoSymlinks(int root, const std::string& rel, uint64_t flags, mode_t mode) {
  return OpenAt2(root, rel, flags, mode, base::kResolveBeneathNoSymlinks);
}

std::vector<std::string> Components(std::string_view path) {
  return base::PathComponents(base::CleanInRoot(path));
}

std::string Join(const std::vector<std::string>& comps, size_t n) {
  std::string out;
  for (size_t i = 0; i < n && i < comps.size(); ++i) {
    if (!out.empty()) out += '/';
    out += comps[i];
  }
  return out;
}

std::string Clean(std::string_view path) { return base::CleanInRoot(path); }

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
      (void)base::ForEachDirEntry(dir.get(), [&](const base::DirEntry& e) {
        if (::fnmatch(comp.c_str(), e.name.c_str(), 0) == 0)
          next.push_back(JoinRel(prefix, e.name));
        return true;
      });
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
