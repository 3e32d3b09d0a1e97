// Cache mounts: the persistent directories behind `RUN --mount=type=cache`, kept under the
// engine's state root so they survive restarts and are shared by every build of the engine.
//
// Layout of `dir` (<root>/cachemounts):
//   <sha256(key)>/key     the key, for people reading the tree
//   <sha256(key)>/<n>/    instance n (0, 1, ...): the directory a RUN sees
// A key normally has one instance. Instances are locked with flock(2) on their directory:
// `shared` users hold LOCK_SH (any number at once), `private` and `locked` users LOCK_EX.
// `shared` and `private` never wait: when every instance is taken they make a new one;
// `locked` waits for one (BuildKit's rules). Because the locks are flock locks, the rules hold
// between threads of one engine and between processes using the same root.
// A new instance is made under a temp name, seeded, chowned and chmodded, then renamed into
// place (crash-safe: a half-made instance is never used).
//
// Thread-safe (all state is on disk and in flock locks).
#ifndef KILN_ENGINE_OPS_CACHE_MOUNT_H_
#define KILN_ENGINE_OPS_CACHE_MOUNT_H_

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "base/unique_fd.h"

namespace kiln::engine {

enum class CacheSharing { kShared, kPrivate, kLocked };

// "shared" (also ""), "private", "locked"; InvalidArgument otherwise.
absl::StatusOr<CacheSharing> ParseCacheSharing(const std::string& s);

struct CacheMountRequest {
  std::string key;  // identity (id, seed, ownership); see CacheMountKey in exec_mount.cc
  CacheSharing sharing = CacheSharing::kShared;
  // Applied to the root of a NEW instance (after seeding). Unset: 0755 and 0:0 for an empty
  // instance, the seed's own for a seeded one.
  std::optional<mode_t> mode;
  std::optional<uid_t> uid;
  std::optional<gid_t> gid;
  // Fills a new instance (its directory fd); null = starts empty.
  std::function<absl::Status(int dir_fd)> seed;
  // Polled while `locked` waits; true = give up with Cancelled.
  std::function<bool()> cancelled;
};

// An instance in use: holds its lock until destroyed. Move-only.
class CacheMountLease {
 public:
  CacheMountLease() = default;
  CacheMountLease(std::string path, base::UniqueFd lock)
      : path_(std::move(path)), lock_(std::move(lock)) {}
  CacheMountLease(CacheMountLease&&) = default;
  CacheMountLease& operator=(CacheMountLease&&) = default;

  // Absolute path of the instance directory.
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  base::UniqueFd lock_;  // flock held on the instance directory
};

// Finds or makes an instance of `req.key` under `dir` (created if missing) and locks it.
// Errors: Cancelled (while waiting), errno-derived ("create cache mount '<dir>': ..."),
// and whatever `req.seed` returns.
absl::StatusOr<CacheMountLease> AcquireCacheMount(const std::string& dir,
                                                  const CacheMountRequest& req);

struct CacheMountPruneReport {
  int64_t bytes_freed = 0;
  int instances_removed = 0;
};

// Removes every instance under `dir` that nobody holds (and leftovers of interrupted
// creations). A missing `dir` is fine.
absl::StatusOr<CacheMountPruneReport> PruneCacheMounts(const std::string& dir);

}  // namespace kiln::engine

#endif  // KILN_ENGINE_OPS_CACHE_MOUNT_H_
