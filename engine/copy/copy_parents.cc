#include "engine/copy/copy_parents.h"

#include <memory>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "engine/frontend/dockerignore.h"

namespace kiln::engine {
namespace {

bool HasWildcard(std::string_view s) { return s.find_first_of("*?[\\") != std::string_view::npos; }

std::vector<std::string> Comps(std::string_view p) {
  std::vector<std::string> out;
  for (absl::string_view c : absl::StrSplit(absl::string_view(p.data(), p.size()), '/',
                                            absl::SkipEmpty())) {
    if (c == ".") continue;
    if (c == "..") {
      if (!out.empty()) out.pop_back();
      continue;
    }
    out.emplace_back(c.data(), c.size());
  }
  return out;
}

std::string JoinComps(const std::vector<std::string>& c) {
  return absl::StrJoin(c, "/");
}

}  // namespace

ParentsSource SplitParentsSource(std::string_view src) {
  ParentsSource out;
  size_t at = src.find("/./");
  std::string_view pivot = at == std::string_view::npos ? std::string_view("/") : src.substr(0, at);
  std::string_view pattern = at == std::string_view::npos ? src : src.substr(at + 3);
  // (absl::StrCat, not "/" + std::string: GCC 12 -O2 warns -Wrestrict on the latter.)
  out.pivot = absl::StrCat("/", JoinComps(Comps(pivot)));
  out.pattern = JoinComps(Comps(pattern));
  out.required = !HasWildcard(out.pivot) && !HasWildcard(out.pattern);
  return out;
}

absl::StatusOr<CopyInclude> MakeParentsInclude(const std::string& pattern) {
  auto m = DockerignoreMatcher::Create({pattern});
  if (!m.ok()) return m.status();
  auto matcher = std::make_shared<const DockerignoreMatcher>(std::move(*m));
  auto pattern_comps = std::make_shared<const std::vector<std::string>>(Comps(pattern));
  CopyInclude inc;
  inc.match = [matcher](std::string_view rel) { return matcher->Excluded(rel); };
  // Below `dir` something can match only while dir's components agree with the pattern's
  // literal leading components (a wildcard component may match anything).
  inc.may_contain = [pattern_comps](std::string_view dir) {
    std::vector<std::string> d = Comps(dir);
    const std::vector<std::string>& p = *pattern_comps;
    for (size_t i = 0; i < d.size(); ++i) {
      if (i >= p.size()) return false;  // the pattern matched a parent: match() said so
      if (HasWildcard(p[i])) return true;
      if (p[i] != d[i]) return false;
    }
    return true;
  };
  return inc;
}

}  // namespace kiln::engine
