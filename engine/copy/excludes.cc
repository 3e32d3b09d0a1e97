#include "engine/copy/excludes.h"

#include <memory>

#include "engine/frontend/dockerignore.h"

namespace kiln::engine {

absl::StatusOr<ExcludeFn> MakeExcludeFn(const std::vector<std::string>& patterns) {
  if (patterns.empty()) return ExcludeFn();
  auto m = DockerignoreMatcher::Create(patterns);
  if (!m.ok()) return m.status();
  auto matcher = std::make_shared<const DockerignoreMatcher>(std::move(*m));
  return ExcludeFn([matcher](std::string_view rel, bool is_dir) {
    return is_dir ? matcher->CanSkipDir(rel) : matcher->Excluded(rel);
  });
}

}  // namespace kiln::engine
