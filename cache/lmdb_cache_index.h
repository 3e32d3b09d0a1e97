// LmdbCacheIndex: the persistent CacheIndex (contract in cache_index.h), one LMDB environment
// in `dir` with a "records" database (key: hex of the cache key; value: versioned encoding).
// Open a directory once per process (LMDB rule); several processes may share it.
#ifndef KILN_CACHE_LMDB_CACHE_INDEX_H_
#define KILN_CACHE_LMDB_CACHE_INDEX_H_

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "cache/cache_index.h"

namespace kiln::cache {

struct LmdbCacheIndexOptions {
  std::function<absl::Time()> now;    // default absl::Now
  size_t map_size = size_t{4} << 30;  // address space reserved; the file grows as needed
  bool durable = true;                // false: no fsync per commit (bulk loads, benchmarks only)
};

absl::StatusOr<std::unique_ptr<CacheIndex>> OpenLmdbCacheIndex(
    const std::string& dir, const LmdbCacheIndexOptions& options = {});

// Encoding shared with tests (internal).
namespace internal {
std::string EncodeCacheRecord(const CacheRecord& r);
absl::StatusOr<CacheRecord> DecodeCacheRecord(std::string_view bytes);
}  // namespace internal

}  // namespace kiln::cache

#endif  // KILN_CACHE_LMDB_CACHE_INDEX_H_
