#include "engine/solver/cache_key.h"

#include "absl/strings/str_cat.h"

namespace kiln::engine::solver {

base::Digest DefaultCacheKey(std::string_view definition, const std::vector<InputRef>& inputs) {
  base::Sha256 hasher;
  hasher.Update("kiln.cachekey.v1\n");
  hasher.Update(absl::StrCat("def ", definition.size(), "\n"));
  hasher.Update(definition);
  hasher.Update(absl::StrCat("\ninputs ", inputs.size(), "\n"));
  for (const InputRef& input : inputs) {
    hasher.Update(absl::StrCat(input.cache_key.str(), "\n"));
  }
  return hasher.Finish();
}

}  // namespace kiln::engine::solver
