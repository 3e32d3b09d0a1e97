#include "cache/lmdb_cache_index.h"

#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "base/lmdb.h"
#include "base/status.h"
#include "cache/codec.h"

namespace kiln::cache {
namespace internal {
namespace {

constexpr uint64_t kRecordVersion = 1;

// Skips a list of digests: the dead layer and diff-id lists that version 1 records carry.
// New records write two empty lists, so old and new records share one format.
bool SkipDigests(Decoder& dec) {
  uint64_t n = 0;
  if (!dec.U64(&n)) return false;
  for (uint64_t i = 0; i < n; ++i) {
    std::string s;
    if (!dec.Str(&s) || !base::Digest::Parse(s).ok()) return false;
  }
  return true;
}

}  // namespace

std::string EncodeCacheRecord(const CacheRecord& r) {
  Encoder e;
  e.U64(kRecordVersion).Str(r.snapshot);
  e.U64(0).U64(0);  // the dead layer and diff-id lists (see SkipDigests)
  e.I64(r.size).I64(absl::ToUnixNanos(r.created)).I64(absl::ToUnixNanos(r.last_used));
  e.U64(r.extra.size());
  for (const auto& [k, v] : r.extra) e.Str(k).Str(v);
  return e.Take();
}

absl::StatusOr<CacheRecord> DecodeCacheRecord(std::string_view bytes) {
  Decoder dec(bytes);
  CacheRecord r;
  uint64_t version = 0, n = 0;
  int64_t created = 0, last_used = 0;
  bool ok = dec.U64(&version) && version == kRecordVersion && dec.Str(&r.snapshot) &&
            SkipDigests(dec) && SkipDigests(dec) && dec.I64(&r.size) && dec.I64(&created) &&
            dec.I64(&last_used) && dec.U64(&n);
  for (uint64_t i = 0; ok && i < n; ++i) {
    std::string k, v;
    ok = dec.Str(&k) && dec.Str(&v);
    if (ok) r.extra.emplace(std::move(k), std::move(v));
  }
  if (!ok || !dec.done()) return absl::DataLossError("decode cache record: corrupt");
  r.created = absl::FromUnixNanos(created);
  r.last_used = absl::FromUnixNanos(last_used);
  return r;
}

}  // namespace internal

namespace {

using base::LmdbEnv;
using base::LmdbTxn;

constexpr size_t kFlushEvery = 4096;

class LmdbCacheIndex final : public CacheIndex {
 public:
  LmdbCacheIndex(std::shared_ptr<LmdbEnv> env, std::function<absl::Time()> now)
      : env_(std::move(env)), now_(std::move(now)) {}
  ~LmdbCacheIndex() override { (void)Flush(); }

  absl::StatusOr<std::optional<CacheRecord>> Lookup(const CacheKey& key,
                                                    const CacheValidator& validator) override;
  absl::Status Put(const CacheKey& key, CacheRecord record) override;
  absl::Status Update(const CacheKey& key,
                      const std::function<void(CacheRecord*)>& mutate) override;
  absl::Status Delete(const CacheKey& key) override;
  absl::Status Walk(const std::function<void(const CacheKey&, const CacheRecord&)>& fn) override;
  absl::Status Flush() override;
  CacheIndexStats stats() const override {
    absl::MutexLock lock(&mu_);
    return stats_;
  }

 private:
  MDB_dbi db() const { return env_->dbi(0); }
  absl::StatusOr<std::optional<CacheRecord>> Read(const CacheKey& key);
  // Applies pending and new last-used bumps to `r`; returns true when a flush is due.
  bool Bump(const CacheKey& key, CacheRecord* r);
  void Count(int64_t CacheIndexStats::*field) {
    absl::MutexLock lock(&mu_);
    ++(stats_.*field);
  }

  const std::shared_ptr<LmdbEnv> env_;
  const std::function<absl::Time()> now_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, absl::Time> pending_ ABSL_GUARDED_BY(mu_);
  CacheIndexStats stats_ ABSL_GUARDED_BY(mu_);
};

absl::StatusOr<std::optional<CacheRecord>> LmdbCacheIndex::Read(const CacheKey& key) {
  KILN_ASSIGN_OR_RETURN(LmdbTxn txn, LmdbTxn::Begin(*env_, /*write=*/false));
  KILN_ASSIGN_OR_RETURN(std::optional<std::string_view> raw, txn.Get(db(), key.hex()));
  if (!raw.has_value()) return std::optional<CacheRecord>();
  absl::StatusOr<CacheRecord> r = internal::DecodeCacheRecord(*raw);
  if (!r.ok()) return base::Annotate(r.status(), absl::StrCat("cache lookup '", key.str(), "'"));
  return std::optional<CacheRecord>(std::move(*r));
}

bool LmdbCacheIndex::Bump(const CacheKey& key, CacheRecord* r) {
  absl::Time now = now_();
  absl::MutexLock lock(&mu_);
  auto it = pending_.find(key.hex());
  if (it != pending_.end() && it->second > r->last_used) r->last_used = it->second;
  if (now - r->last_used < kLastUsedGranularity) return false;
  r->last_used = now;
  pending_[key.hex()] = now;
  return pending_.size() >= kFlushEvery;
}

absl::StatusOr<std::optional<CacheRecord>> LmdbCacheIndex::Lookup(const CacheKey& key,
                                                                  const CacheValidator& validator) {
  KILN_ASSIGN_OR_RETURN(std::optional<CacheRecord> r, Read(key));
  if (!r.has_value()) {
    Count(&CacheIndexStats::misses);
    return r;
  }
  switch (ValidateCacheRecord(*r, validator)) {
    case CacheRecordState::kSnapshotGone: {
      Count(&CacheIndexStats::misses);
      Count(&CacheIndexStats::stale_snapshot);
      absl::Status st = Delete(key);
      if (!st.ok() && !absl::IsNotFound(st)) return st;
      return std::optional<CacheRecord>();
    }
    case CacheRecordState::kValid:
      break;
  }
  Count(&CacheIndexStats::hits);
  if (Bump(key, &*r)) KILN_RETURN_IF_ERROR(Flush());
  return r;
}

absl::Status LmdbCacheIndex::Put(const CacheKey& key, CacheRecord record) {
  absl::Time now = now_();
  if (record.created == absl::UnixEpoch()) record.created = now;
  if (record.last_used == absl::UnixEpoch()) record.last_used = now;
  {
    absl::MutexLock lock(&mu_);
    pending_.erase(key.hex());
  }
  KILN_ASSIGN_OR_RETURN(LmdbTxn txn, LmdbTxn::Begin(*env_, /*write=*/true));
  KILN_RETURN_IF_ERROR(txn.Put(db(), key.hex(), internal::EncodeCacheRecord(record)));
  return txn.Commit();
}

absl::Status LmdbCacheIndex::Update(const CacheKey& key,
                                    const std::function<void(CacheRecord*)>& mutate) {
  KILN_ASSIGN_OR_RETURN(LmdbTxn txn, LmdbTxn::Begin(*env_, /*write=*/true));
  KILN_ASSIGN_OR_RETURN(std::optional<std::string_view> raw, txn.Get(db(), key.hex()));
  if (!raw.has_value()) {
    return absl::NotFoundError(absl::StrCat("update cache record '", key.str(), "': not found"));
  }
  KILN_ASSIGN_OR_RETURN(CacheRecord r, internal::DecodeCacheRecord(*raw));
  mutate(&r);
  KILN_RETURN_IF_ERROR(txn.Put(db(), key.hex(), internal::EncodeCacheRecord(r)));
  return txn.Commit();
}

absl::Status LmdbCacheIndex::Delete(const CacheKey& key) {
  {
    absl::MutexLock lock(&mu_);
    pending_.erase(key.hex());
  }
  KILN_ASSIGN_OR_RETURN(LmdbTxn txn, LmdbTxn::Begin(*env_, /*write=*/true));
  KILN_ASSIGN_OR_RETURN(bool existed, txn.Del(db(), key.hex()));
  if (!existed) {
    return absl::NotFoundError(absl::StrCat("delete cache record '", key.str(), "': not found"));
  }
  return txn.Commit();
}

absl::Status LmdbCacheIndex::Flush() {
  absl::flat_hash_map<std::string, absl::Time> pending;
  {
    absl::MutexLock lock(&mu_);
    pending.swap(pending_);
  }
  if (pending.empty()) return absl::OkStatus();
  KILN_ASSIGN_OR_RETURN(LmdbTxn txn, LmdbTxn::Begin(*env_, /*write=*/true));
  for (const auto& [hex, t] : pending) {
    KILN_ASSIGN_OR_RETURN(std::optional<std::string_view> raw, txn.Get(db(), hex));
    if (!raw.has_value()) continue;  // deleted meanwhile
    KILN_ASSIGN_OR_RETURN(CacheRecord r, internal::DecodeCacheRecord(*raw));
    if (r.last_used >= t) continue;
    r.last_used = t;
    KILN_RETURN_IF_ERROR(txn.Put(db(), hex, internal::EncodeCacheRecord(r)));
  }
  return txn.Commit();
}

absl::Status LmdbCacheIndex::Walk(
    const std::function<void(const CacheKey&, const CacheRecord&)>& fn) {
  KILN_RETURN_IF_ERROR(Flush());
  std::vector<std::pair<CacheKey, CacheRecord>> all;
  absl::Status decode_error;
  {
    KILN_ASSIGN_OR_RETURN(LmdbTxn txn, LmdbTxn::Begin(*env_, /*write=*/false));
    KILN_RETURN_IF_ERROR(txn.ForEach(db(), [&](std::string_view k, std::string_view v) {
      absl::StatusOr<base::Digest> key =
          base::Digest::Parse(absl::StrCat("sha256:", base::AsAbsl(k)));
      absl::StatusOr<CacheRecord> r = internal::DecodeCacheRecord(v);
      if (!key.ok() || !r.ok()) {
        decode_error = absl::DataLossError(absl::StrCat(
            "walk cache index '", env_->dir(), "': corrupt record '", base::AsAbsl(k), "'"));
        return false;
      }
      all.emplace_back(std::move(*key), std::move(*r));
      return true;
    }));
  }
  KILN_RETURN_IF_ERROR(decode_error);
  for (const auto& [k, r] : all) fn(k, r);
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<CacheIndex>> OpenLmdbCacheIndex(
    const std::string& dir, const LmdbCacheIndexOptions& options) {
  LmdbEnv::Options env_options;
  env_options.map_size = options.map_size;
  env_options.durable = options.durable;
  env_options.databases = {"records"};
  KILN_ASSIGN_OR_RETURN(std::shared_ptr<LmdbEnv> env, LmdbEnv::Open(dir, env_options));
  std::function<absl::Time()> now = options.now ? options.now : [] { return absl::Now(); };
  return std::unique_ptr<CacheIndex>(new LmdbCacheIndex(std::move(env), std::move(now)));
}

}  // namespace kiln::cache
