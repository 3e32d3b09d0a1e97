#include "cache/cache_index.h"

namespace kiln::cache {

CacheRecordState ValidateCacheRecord(const CacheRecord& record, const CacheValidator& validator) {
  if (validator.snapshot_exists && !validator.snapshot_exists(record.snapshot)) {
    return CacheRecordState::kSnapshotGone;
  }
  return CacheRecordState::kValid;
}

}  // namespace kiln::cache
