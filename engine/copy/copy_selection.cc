#include "engine/copy/copy_selection.h"

#include <fcntl.h>
#include <sys/stat.h>

#include "absl/strings/str_cat.h"
#include "base/unique_fd.h"
#include "engine/copy/copy_paths.h"

namespace kiln::engine {

using internal::Clean;
using internal::HasGlob;
using internal::OpenInRoot;

absl::StatusOr<std::vector<std::string>> CopySelection::Sources(int root_fd) const {
  std::vector<std::string> out;
  for (const std::string& src : opts_.sources) {
    if (!opts_.allow_wildcards || !HasGlob(src)) {
      out.push_back(Clean(src));
      continue;
    }
    absl::StatusOr<std::vector<std::string>> m = ExpandWildcards(root_fd, src);
    if (!m.ok() && !absl::IsNotFound(m.status())) return m.status();
    size_t kept = 0;
    for (std::string& rel : m.ok() ? *m : std::vector<std::string>{}) {
      if (opts_.exclude) {
        base::UniqueFd fd(OpenInRoot(root_fd, rel, O_PATH | O_NOFOLLOW));
        struct stat st;
        bool is_dir = fd && ::fstat(fd.get(), &st) == 0 && S_ISDIR(st.st_mode);
        if (opts_.exclude(rel, is_dir)) continue;
      }
      out.push_back(std::move(rel));
      ++kept;
    }
    if (kept == 0 && !opts_.allow_empty_wildcard) {
      return m.ok() ? absl::NotFoundError(absl::StrCat("copy: no source files matching '", src,
                                                       "' (all are excluded by .dockerignore)"))
                    : m.status();
    }
  }
  return out;
}

absl::Status CopySelection::CheckSource(const std::string& rel, const struct stat& st) const {
  if (rel.empty() || !opts_.exclude || !opts_.exclude(rel, S_ISDIR(st.st_mode))) {
    return absl::OkStatus();
  }
  return absl::NotFoundError(absl::StrCat("copy: source '", rel, "' is excluded (.dockerignore)"));
}

std::string CopySelection::RelativeTo(const std::string& rel, const std::string& source) {
  if (source.empty()) return rel;
  if (rel == source) return "";
  if (rel.size() > source.size() && rel.compare(0, source.size(), source) == 0 &&
      rel[source.size()] == '/') {
    return rel.substr(source.size() + 1);
  }
  return rel;
}

CopySelection::Decision CopySelection::Decide(const std::string& rel, const std::string& source,
                                              bool is_dir, bool parent_selected) const {
  Decision d;
  bool lazy = false;
  // A filter leaves out a file it excludes and a directory whose whole subtree it excludes; a
  // directory it excludes whose subtree an exception may bring back is walked lazily.
  auto filtered_out = [&](const auto& filter, const std::string& path) {
    if (filter(path, is_dir)) return true;
    if (is_dir && filter(path, false)) lazy = true;
    return false;
  };
  if (opts_.exclude && filtered_out(opts_.exclude, rel)) return d;
  const bool includes = opts_.include && !parent_selected;
  std::string srel;
  if (opts_.exclude_in_source || includes) srel = RelativeTo(rel, source);
  if (opts_.exclude_in_source && filtered_out(opts_.exclude_in_source, srel)) return d;
  d.selected = parent_selected;
  if (includes) {
    d.selected = opts_.include->match(srel);
    if (!d.selected) {
      if (!is_dir || !opts_.include->may_contain(srel)) return d;
      lazy = true;
    }
  }
  d.take = true;
  d.lazy = lazy && is_dir;
  return d;
}

}  // namespace kiln::engine
