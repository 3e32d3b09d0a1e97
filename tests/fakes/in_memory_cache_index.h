// InMemoryCacheIndex: a header-only CacheIndex fake (contract in cache/cache_index.h); passes
// the same typed suite as LmdbCacheIndex. Last-used bumps (coarse, as the contract says) are
// applied immediately.
// Thread-safe.
#ifndef KILN_TESTS_FAKES_IN_MEMORY_CACHE_INDEX_H_
#define KILN_TESTS_FAKES_IN_MEMORY_CACHE_INDEX_H_

#include <functional>
#include <map>
#include <optional>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "cache/cache_index.h"

namespace kiln::fakes {

class InMemoryCacheIndex final : public cache::CacheIndex {
 public:
  explicit InMemoryCacheIndex(std::function<absl::Time()> now = nullptr)
      : now_(now ? std::move(now) : [] { return absl::Now(); }) {}

  absl::StatusOr<std::optional<cache::CacheRecord>> Lookup(
      const cache::CacheKey& key, const cache::CacheValidator& validator = {}) override {
    absl::MutexLock lock(&mu_);
    auto it = records_.find(key);
    if (it == records_.end()) {
      ++stats_.misses;
      return std::optional<cache::CacheRecord>();
    }
    switch (cache::ValidateCacheRecord(it->second, validator)) {
      case cache::CacheRecordState::kSnapshotGone:
        ++stats_.misses;
        ++stats_.stale_snapshot;
        records_.erase(it);
        return std::optional<cache::CacheRecord>();
      case cache::CacheRecordState::kValid:
        break;
    }
    ++stats_.hits;
    absl::Time now = now_();
    if (now - it->second.last_used >= cache::kLastUsedGranularity) it->second.last_used = now;
    return std::optional<cache::CacheRecord>(it->second);
  }

  absl::Status Put(const cache::CacheKey& key, cache::CacheRecord record) override {
    absl::Time now = now_();
    if (record.created == absl::UnixEpoch()) record.created = now;
    if (record.last_used == absl::UnixEpoch()) record.last_used = now;
    absl::MutexLock lock(&mu_);
    records_[key] = std::move(record);
    return absl::OkStatus();
  }

  absl::Status Update(const cache::CacheKey& key,
                      const std::function<void(cache::CacheRecord*)>& mutate) override {
    absl::MutexLock lock(&mu_);
    auto it = records_.find(key);
    if (it == records_.end()) {
      return absl::NotFoundError(absl::StrCat("update cache record '", key.str(), "': not found"));
    }
    mutate(&it->second);
    return absl::OkStatus();
  }

  absl::Status Delete(const cache::CacheKey& key) override {
    absl::MutexLock lock(&mu_);
    if (records_.erase(key) == 0) {
      return absl::NotFoundError(absl::StrCat("delete cache record '", key.str(), "': not found"));
    }
    return absl::OkStatus();
  }

  absl::Status Walk(
      const std::function<void(const cache::CacheKey&, const cache::CacheRecord&)>& fn) override {
    std::vector<std::pair<cache::CacheKey, cache::CacheRecord>> all;
    {
      absl::MutexLock lock(&mu_);
      all.assign(records_.begin(), records_.end());
    }
    for (const auto& [k, r] : all) fn(k, r);
    return absl::OkStatus();
  }

  absl::Status Flush() override { return absl::OkStatus(); }

  cache::CacheIndexStats stats() const override {
    absl::MutexLock lock(&mu_);
    return stats_;
  }

 private:
  const std::function<absl::Time()> now_;
  mutable absl::Mutex mu_;
  std::map<cache::CacheKey, cache::CacheRecord> records_ ABSL_GUARDED_BY(mu_);
  cache::CacheIndexStats stats_ ABSL_GUARDED_BY(mu_);
};

}  // namespace kiln::fakes

#endif  // KILN_TESTS_FAKES_IN_MEMORY_CACHE_INDEX_H_
