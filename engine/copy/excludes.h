// Exclude predicates for copies and content checksums, from .dockerignore-style patterns
// (engine/frontend/dockerignore.h: Docker's patternmatcher semantics).
#ifndef KILN_ENGINE_COPY_EXCLUDES_H_
#define KILN_ENGINE_COPY_EXCLUDES_H_

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace kiln::engine {

// A predicate for CopyOptions::exclude and ChecksumCache: a file is left out when the
// patterns exclude it; a directory only when nothing below it can be re-included by a "!"
// exception (so its subtree may be skipped). InvalidArgument for a malformed pattern.
using ExcludeFn = std::function<bool(std::string_view rel, bool is_dir)>;
absl::StatusOr<ExcludeFn> MakeExcludeFn(const std::vector<std::string>& patterns);

}  // namespace kiln::engine

#endif  // KILN_ENGINE_COPY_EXCLUDES_H_
