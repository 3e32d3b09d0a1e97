// DefaultCacheKey: the generic cache-key recipe most ops use.
//
// key = sha256("kiln.cachekey.v1" | definition | cache keys of the inputs, in order), with
// every field length-prefixed (recipe in cache_key.cc, pinned by a golden test). Ops whose key
// depends on content (COPY --from hashing the copied files) put that content digest into
// `definition` instead of relying on the input's key.
#ifndef KILN_ENGINE_SOLVER_CACHE_KEY_H_
#define KILN_ENGINE_SOLVER_CACHE_KEY_H_

#include <string_view>
#include <vector>

#include "base/digest.h"
#include "engine/solver/op.h"

namespace kiln::engine::solver {

// Pure function; thread-safe.
base::Digest DefaultCacheKey(std::string_view definition, const std::vector<InputRef>& inputs);

}  // namespace kiln::engine::solver

#endif  // KILN_ENGINE_SOLVER_CACHE_KEY_H_
