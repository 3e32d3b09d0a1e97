// One typed suite for every CacheIndex (LmdbCacheIndex, InMemoryCacheIndex), plus LMDB-only
// restart persistence and batched last-used write-back.
#include "cache/cache_index.h"

#include <gtest/gtest.h>

#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "base/temp_dir.h"
#include "cache/codec.h"
#include "cache/lmdb_cache_index.h"
#include "tests/cache/fake_clock.h"
#include "tests/fakes/in_memory_cache_index.h"

namespace kiln::cache {
namespace {

using base::Digest;
using test_util::FakeClock;

CacheKey Key(int i) { return Digest::Of("key " + std::to_string(i)); }

CacheRecord Rec(std::string snapshot) {
  CacheRecord r;
  r.snapshot = std::move(snapshot);
  r.size = 4096;
  r.extra["config"] = "{}";
  return r;
}

struct LmdbTraits {
  base::TempDir dir;
  std::unique_ptr<CacheIndex> Make(FakeClock* clock) {
    auto d = base::TempDir::Create("kiln-idx-");
    EXPECT_TRUE(d.ok()) << d.status();
    dir = std::move(*d);
    LmdbCacheIndexOptions opts;
    opts.now = clock->Fn();
    auto idx = OpenLmdbCacheIndex(dir.path() + "/index", opts);
    EXPECT_TRUE(idx.ok()) << idx.status();
    return idx.ok() ? std::move(*idx) : nullptr;
  }
};

struct MemTraits {
  std::unique_ptr<CacheIndex> Make(FakeClock* clock) {
    return std::make_unique<fakes::InMemoryCacheIndex>(clock->Fn());
  }
};

template <typename Traits>
class CacheIndexTest : public ::testing::Test {
 protected:
  void SetUp() override {
    index_ = traits_.Make(&clock_);
    ASSERT_NE(index_, nullptr);
  }
  FakeClock clock_;
  Traits traits_;
  std::unique_ptr<CacheIndex> index_;
};

using Implementations = ::testing::Types<LmdbTraits, MemTraits>;
TYPED_TEST_SUITE(CacheIndexTest, Implementations);

TYPED_TEST(CacheIndexTest, MissThenPutThenHit) {
  auto miss = this->index_->Lookup(Key(1));
  ASSERT_TRUE(miss.ok()) << miss.status();
  EXPECT_FALSE(miss->has_value());
  ASSERT_TRUE(this->index_->Put(Key(1), Rec("snap-1")).ok());
  auto hit = this->index_->Lookup(Key(1));
  ASSERT_TRUE(hit.ok()) << hit.status();
  ASSERT_TRUE(hit->has_value());
  EXPECT_EQ((*hit)->snapshot, "snap-1");
  EXPECT_EQ((*hit)->size, 4096);
  EXPECT_EQ((*hit)->extra.at("config"), "{}");
  EXPECT_EQ((*hit)->created, this->clock_.Now());
  CacheIndexStats st = this->index_->stats();
  EXPECT_EQ(st.hits, 1);
  EXPECT_EQ(st.misses, 1);
}

TYPED_TEST(CacheIndexTest, LookupBumpsLastUsedVisibleInWalk) {
  ASSERT_TRUE(this->index_->Put(Key(1), Rec("a")).ok());
  ASSERT_TRUE(this->index_->Put(Key(2), Rec("b")).ok());
  absl::Time put_time = this->clock_.Now();
  this->clock_.Advance(absl::Hours(1));
  auto hit = this->index_->Lookup(Key(1));
  ASSERT_TRUE(hit.ok() && hit->has_value());
  EXPECT_EQ((*hit)->last_used, this->clock_.Now());
  std::map<CacheKey, absl::Time> seen;
  ASSERT_TRUE(
      this->index_->Walk([&](const CacheKey& k, const CacheRecord& r) { seen[k] = r.last_used; })
          .ok());
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[Key(1)], this->clock_.Now());
  EXPECT_EQ(seen[Key(2)], put_time);
}

TYPED_TEST(CacheIndexTest, LastUsedIsCoarse) {
  ASSERT_TRUE(this->index_->Put(Key(1), Rec("a")).ok());
  absl::Time put_time = this->clock_.Now();
  this->clock_.Advance(kLastUsedGranularity / 2);
  EXPECT_EQ((*this->index_->Lookup(Key(1)))->last_used, put_time);
  this->clock_.Advance(kLastUsedGranularity);
  absl::Time bumped = this->clock_.Now();
  EXPECT_EQ((*this->index_->Lookup(Key(1)))->last_used, bumped);
  this->clock_.Advance(absl::Seconds(1));
  EXPECT_EQ((*this->index_->Lookup(Key(1)))->last_used, bumped);  // the pending bump counts
}

TYPED_TEST(CacheIndexTest, UpdateMutatesInPlace) {
  ASSERT_TRUE(this->index_->Put(Key(1), Rec("snap")).ok());
  ASSERT_TRUE(
      this->index_->Update(Key(1), [&](CacheRecord* r) { r->extra["added"] = "yes"; }).ok());
  auto hit = this->index_->Lookup(Key(1));
  ASSERT_TRUE(hit.ok() && hit->has_value());
  EXPECT_EQ((*hit)->extra.at("added"), "yes");
  EXPECT_EQ(this->index_->Update(Key(9), [](CacheRecord*) {}).code(), absl::StatusCode::kNotFound);
}

TYPED_TEST(CacheIndexTest, PutReplacesAndDeleteRemoves) {
  ASSERT_TRUE(this->index_->Put(Key(1), Rec("old")).ok());
  ASSERT_TRUE(this->index_->Put(Key(1), Rec("new")).ok());
  EXPECT_EQ((*this->index_->Lookup(Key(1)))->snapshot, "new");
  ASSERT_TRUE(this->index_->Delete(Key(1)).ok());
  EXPECT_FALSE(this->index_->Lookup(Key(1))->has_value());
  EXPECT_EQ(this->index_->Delete(Key(1)).code(), absl::StatusCode::kNotFound);
}

TYPED_TEST(CacheIndexTest, VanishedSnapshotIsAMissAndRecordIsDropped) {
  ASSERT_TRUE(this->index_->Put(Key(1), Rec("gone")).ok());
  ASSERT_TRUE(this->index_->Put(Key(2), Rec("here")).ok());
  CacheValidator v;
  v.snapshot_exists = [](const std::string& s) { return s == "here"; };
  auto r1 = this->index_->Lookup(Key(1), v);
  ASSERT_TRUE(r1.ok()) << r1.status();
  EXPECT_FALSE(r1->has_value());
  auto r2 = this->index_->Lookup(Key(2), v);
  ASSERT_TRUE(r2.ok() && r2->has_value());
  int count = 0;
  ASSERT_TRUE(this->index_->Walk([&](const CacheKey&, const CacheRecord&) { ++count; }).ok());
  EXPECT_EQ(count, 1);
  EXPECT_EQ(this->index_->stats().stale_snapshot, 1);
}

TYPED_TEST(CacheIndexTest, ConcurrentLookupsAndPuts) {
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(this->index_->Put(Key(i), Rec("s")).ok());
  std::vector<std::thread> threads;
  std::atomic<int> hits{0}, errors{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) {
        auto r = this->index_->Lookup(Key(i % 100));
        if (!r.ok()) ++errors;
        if (r.ok() && r->has_value()) ++hits;
        if (i % 50 == 0 && !this->index_->Put(Key(1000 + t * 10 + i / 50), Rec("n")).ok()) {
          ++errors;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(hits.load(), 800);
  int count = 0;
  ASSERT_TRUE(this->index_->Walk([&](const CacheKey&, const CacheRecord&) { ++count; }).ok());
  EXPECT_EQ(count, 116);
}

// ---- LMDB only ----

TEST(LmdbCacheIndexTest, SurvivesRestartIncludingLastUsedBumps) {
  auto dir = base::TempDir::Create("kiln-idx-");
  ASSERT_TRUE(dir.ok());
  FakeClock clock;
  LmdbCacheIndexOptions opts;
  opts.now = clock.Fn();
  CacheRecord r = Rec("persisted");
  {
    auto idx = OpenLmdbCacheIndex(dir->path() + "/index", opts);
    ASSERT_TRUE(idx.ok()) << idx.status();
    ASSERT_TRUE((*idx)->Put(Key(7), r).ok());
    clock.Advance(absl::Minutes(10));
    ASSERT_TRUE((*idx)->Lookup(Key(7)).ok());  // bump pending; written on close
  }
  auto idx = OpenLmdbCacheIndex(dir->path() + "/index", opts);
  ASSERT_TRUE(idx.ok()) << idx.status();
  std::vector<CacheRecord> all;
  ASSERT_TRUE((*idx)
                  ->Walk([&](const CacheKey& k, const CacheRecord& rec) {
                    EXPECT_EQ(k, Key(7));
                    all.push_back(rec);
                  })
                  .ok());
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].snapshot, "persisted");
  EXPECT_EQ(all[0].extra, r.extra);
  EXPECT_EQ(all[0].last_used, clock.Now());
  EXPECT_EQ(all[0].created, clock.Now() - absl::Minutes(10));
}

TEST(LmdbCacheIndexTest, OldRecordsWithLayerListsStillDecode) {
  // A record written before the layer and diff-id lists went dead: they are read and dropped.
  internal::Encoder e;
  e.U64(1).Str("old-snap");
  e.U64(2).Str(Digest::Of("a").str()).Str(Digest::Of("b").str());
  e.U64(2).Str(Digest::Of("c").str()).Str(Digest::Of("d").str());
  e.I64(4096).I64(123456789).I64(987654321);
  e.U64(1).Str("config").Str("{}");
  auto back = internal::DecodeCacheRecord(e.Take());
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->snapshot, "old-snap");
  EXPECT_EQ(back->size, 4096);
  EXPECT_EQ(back->created, absl::FromUnixNanos(123456789));
  EXPECT_EQ(back->last_used, absl::FromUnixNanos(987654321));
  EXPECT_EQ(back->extra.at("config"), "{}");
  // A corrupt digest in the old lists is still DataLoss.
  internal::Encoder bad;
  bad.U64(1).Str("s").U64(1).Str("not-a-digest").U64(0).I64(0).I64(0).I64(0).U64(0);
  EXPECT_EQ(internal::DecodeCacheRecord(bad.Take()).status().code(), absl::StatusCode::kDataLoss);
}

TEST(LmdbCacheIndexTest, RecordEncodingRoundTripsAndRejectsTruncation) {
  CacheRecord r = Rec("snap");
  r.created = absl::FromUnixNanos(123456789);
  r.last_used = absl::FromUnixNanos(987654321);
  std::string bytes = internal::EncodeCacheRecord(r);
  auto back = internal::DecodeCacheRecord(bytes);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, r);
  for (size_t cut = 0; cut < bytes.size(); cut += 7) {
    EXPECT_EQ(internal::DecodeCacheRecord(bytes.substr(0, cut)).status().code(),
              absl::StatusCode::kDataLoss);
  }
}

}  // namespace
}  // namespace kiln::cache
