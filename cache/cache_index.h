// CacheIndex: cache key -> result of a step (a committed snapshot). Layer blobs are not part of
// a record: the engine's layer memos map a snapshot to its blobs (see cache/gc.h).
//
// Contract (LmdbCacheIndex and the InMemoryCacheIndex fake pass the same typed suite):
// - Lookup is the hot path (one per step on a no-op rebuild): one read of the store, no write.
//   It bumps the record's last-used time to now, but only when the stored time is at least
//   kLastUsedGranularity old (LRU order for GC needs no finer grain, and a rebuild loop then
//   writes nothing). LmdbCacheIndex keeps bumps in memory and writes them back in batches
//   (Flush, Walk, destruction, or every 4096 bumps): a crash can only lose recent bumps.
// - A record whose snapshot has vanished is a miss: Lookup deletes it and returns nullopt.
//   Pass a CacheValidator to enable this check; without one nothing is checked.
// - Put creates or replaces. Created/last-used default to the index clock when left unset.
// Thread-safe. Errors: NotFound (Update/Delete of an absent key), DataLoss (corrupt record),
// ResourceExhausted (store full), Internal (other store errors). A miss is not an error.
#ifndef KILN_CACHE_CACHE_INDEX_H_
#define KILN_CACHE_CACHE_INDEX_H_

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "base/digest.h"
#include "cache/cache_key.h"

namespace kiln::cache {

inline constexpr absl::Duration kLastUsedGranularity = absl::Minutes(1);

struct CacheRecord {
  std::string snapshot;                      // committed snapshot key/id
  int64_t size = 0;                          // bytes attributed to this record (snapshot usage)
  absl::Time created = absl::UnixEpoch();    // UnixEpoch = "unset" on Put
  absl::Time last_used = absl::UnixEpoch();  // UnixEpoch = "unset" on Put
  std::map<std::string, std::string> extra;  // generic extra results (e.g. image config)

  friend bool operator==(const CacheRecord&, const CacheRecord&) = default;
};

// Existence check supplied by the caller (the cache library does not know snapshotters).
// The predicate may be empty (then the check is skipped).
struct CacheValidator {
  std::function<bool(const std::string& snapshot)> snapshot_exists;
};

struct CacheIndexStats {
  int64_t hits = 0;
  int64_t misses = 0;          // includes stale
  int64_t stale_snapshot = 0;  // records dropped because their snapshot vanished
};

// What a validator says about a record (shared by every CacheIndex implementation).
enum class CacheRecordState { kValid, kSnapshotGone };
CacheRecordState ValidateCacheRecord(const CacheRecord& record, const CacheValidator& validator);

class CacheIndex {
 public:
  virtual ~CacheIndex() = default;

  // The record for `key` (last_used bumped to now), or nullopt on a miss.
  virtual absl::StatusOr<std::optional<CacheRecord>> Lookup(
      const CacheKey& key, const CacheValidator& validator = {}) = 0;
  virtual absl::Status Put(const CacheKey& key, CacheRecord record) = 0;
  // Read-modify-write of one record in one transaction.
  // NotFound if absent.
  virtual absl::Status Update(const CacheKey& key,
                              const std::function<void(CacheRecord*)>& mutate) = 0;
  virtual absl::Status Delete(const CacheKey& key) = 0;  // NotFound if absent
  // Every record in key order, with pending last-used bumps applied. `fn` may not call back
  // into the index.
  virtual absl::Status Walk(const std::function<void(const CacheKey&, const CacheRecord&)>& fn) = 0;
  // Writes pending last-used bumps.
  virtual absl::Status Flush() = 0;
  virtual CacheIndexStats stats() const = 0;
};

}  // namespace kiln::cache

#endif  // KILN_CACHE_CACHE_INDEX_H_
