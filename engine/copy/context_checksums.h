// ContextChecksums: the engine's persisted content digests, kept warm for its lifetime.
//   - one cache::ChecksumCache per build-context directory, so a no-op rebuild only stats the
//     files a COPY selects;
//   - a memo of what `COPY --from` selects out of a committed snapshot: committed snapshots
//     never change and their names are never reused, so (snapshot name, selection) always
//     hashes to the same content, and a rebuild neither mounts the snapshot nor reads it.
// Both live under `state_dir` and survive restarts. Thread-safe.
#ifndef KILN_ENGINE_COPY_CONTEXT_CHECKSUMS_H_
#define KILN_ENGINE_COPY_CONTEXT_CHECKSUMS_H_

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "cache/checksum_cache.h"
#include "engine/copy/copy.h"

namespace kiln::engine {

class ContextChecksums {
 public:
  explicit ContextChecksums(std::string state_dir) : dir_(std::move(state_dir)) {}
  // The cache for `context_dir` (absolute), opened on first use. Not owned by the caller.
  absl::StatusOr<cache::ChecksumCache*> For(const std::string& context_dir);

  // The memoized content of a copy out of a committed snapshot. `key` must cover the snapshot
  // name and everything that changes what the copy selects (the caller hashes them into it).
  // The memo is loaded from disk on first use (a missing or corrupt file starts it empty).
  std::optional<std::string> FindSnapshotCopy(const std::string& key);
  void RecordSnapshotCopy(const std::string& key, std::string content);
  // FindSnapshotCopy calls that found an entry (for tests and benchmarks).
  int64_t snapshot_copy_hits() const { return snapshot_copy_hits_.load(); }

  // Persists every cache that changed, and the snapshot-copy memo if it changed.
  absl::Status SaveAll();

 private:
  void LoadMemoLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(memo_mu_);

  const std::string dir_;
  absl::Mutex mu_;
  std::map<std::string, std::unique_ptr<cache::ChecksumCache>> caches_ ABSL_GUARDED_BY(mu_);

  absl::Mutex memo_mu_;
  bool memo_loaded_ ABSL_GUARDED_BY(memo_mu_) = false;
  bool memo_dirty_ ABSL_GUARDED_BY(memo_mu_) = false;
  absl::flat_hash_map<std::string, std::string> memo_ ABSL_GUARDED_BY(memo_mu_);
  std::atomic<int64_t> snapshot_copy_hits_{0};
};

// The content of copy `o` from the build context `root_fd` through `cache`: the entries its
// CopySelection takes (engine/copy/copy_selection.h: sources, wildcards, .dockerignore, lazy
// directories kept only when something below them is taken), plus each source itself, with
// their combined digest. nullopt when the persisted cache cannot describe the copy and the
// caller must hash it directly (HashSources): --exclude or --parents filters, or a source that
// is a symlink (the copy follows it; the cache never does). Errors as the cache's Checksum.
absl::StatusOr<std::optional<cache::ChecksumResult>> ChecksumCopy(cache::ChecksumCache& cache,
                                                                  int root_fd,
                                                                  const CopyOptions& o);

}  // namespace kiln::engine

#endif  // KILN_ENGINE_COPY_CONTEXT_CHECKSUMS_H_
