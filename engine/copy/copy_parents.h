// COPY --parents (BuildKit semantics): each source is split at its first "/./" into a pivot
// directory and a pattern below it ("/src/./pkg/*.go" -> "/src" + "pkg/*.go"; without a
// pivot the pivot is the source root). The pivot's contents are copied, keeping only what the
// pattern selects (Docker patternmatcher rules: a matched directory brings its subtree) and the
// directories leading to it, so the destination keeps the paths relative to the pivot.
#ifndef KILN_ENGINE_COPY_COPY_PARENTS_H_
#define KILN_ENGINE_COPY_COPY_PARENTS_H_

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "engine/copy/copy.h"

namespace kiln::engine {

struct ParentsSource {
  std::string pivot;    // absolute, cleaned ("/" = the source root)
  std::string pattern;  // relative to the pivot, cleaned
  bool required = false;  // no wildcard anywhere: pivot/pattern must exist
};

ParentsSource SplitParentsSource(std::string_view src);

// The include predicate for `pattern`. InvalidArgument for a malformed pattern.
absl::StatusOr<CopyInclude> MakeParentsInclude(const std::string& pattern);

}  // namespace kiln::engine

#endif  // KILN_ENGINE_COPY_COPY_PARENTS_H_
