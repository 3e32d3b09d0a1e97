#include "engine/build/context_checksums.h"

#include <sys/stat.h>

#include "absl/strings/str_cat.h"
#include "base/digest.h"
#include "base/status.h"

namespace kiln::engine {

absl::StatusOr<cache::ChecksumCache*> ContextChecksums::For(const std::string& context_dir) {
  absl::MutexLock lock(&mu_);
  auto it = caches_.find(context_dir);
  if (it != caches_.end()) return it->second.get();
  if (::mkdir(dir_.c_str(), 0700) != 0 && errno != EEXIST) {
    return base::ErrnoError(absl::StrCat("create '", dir_, "'"));
  }
  std::string path = absl::StrCat(dir_, "/", base::Digest::Of(context_dir).hex());
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<cache::ChecksumCache> c, cache::ChecksumCache::Open(path));
  cache::ChecksumCache* raw = c.get();
  caches_.emplace(context_dir, std::move(c));
  return raw;
}

absl::Status ContextChecksums::SaveAll() {
  absl::MutexLock lock(&mu_);
  absl::Status first;
  for (auto& [dir, c] : caches_) {
    absl::Status s = c->Save();
    if (first.ok() && !s.ok()) first = s;
  }
  return first;
}

}  // namespace kiln::engine
