// Exclude predicates for copies, from .dockerignore-style patterns (the frontend's matcher).
#ifndef KILN_ENGINE_BUILD_EXCLUDES_H_
#define KILN_ENGINE_BUILD_EXCLUDES_H_

#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace kiln::engine {

// Returns a predicate for CopyOptions::exclude; patterns follow .dockerignore rules
// (`**`, `!` exceptions, last match wins).
std::function<bool(std::string_view rel, bool is_dir)> MakeExcludeFn(
    const std::vector<std::string>& patterns);

}  // namespace kiln::engine

#endif  // KILN_ENGINE_BUILD_EXCLUDES_H_
