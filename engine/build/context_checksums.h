// ContextChecksums: one persisted cache::ChecksumCache per build-context directory, kept open
// (warm) for the engine's lifetime, so a no-op rebuild only stats the files it selects.
// Thread-safe.
#ifndef KILN_ENGINE_BUILD_CONTEXT_CHECKSUMS_H_
#define KILN_ENGINE_BUILD_CONTEXT_CHECKSUMS_H_

#include <map>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "cache/checksum_cache.h"

namespace kiln::engine {

class ContextChecksums {
 public:
  explicit ContextChecksums(std::string state_dir) : dir_(std::move(state_dir)) {}
  // The cache for `context_dir` (absolute), opened on first use. Not owned by the caller.
  absl::StatusOr<cache::ChecksumCache*> For(const std::string& context_dir);
  // Persists every cache that changed.
  absl::Status SaveAll();

 private:
  const std::string dir_;
  absl::Mutex mu_;
  std::map<std::string, std::unique_ptr<cache::ChecksumCache>> caches_ ABSL_GUARDED_BY(mu_);
};

}  // namespace kiln::engine

#endif  // KILN_ENGINE_BUILD_CONTEXT_CHECKSUMS_H_
