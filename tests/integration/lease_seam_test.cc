// SnapshotCacheSeam with leases, against a real snapshotter and the real LMDB cache index: a
// hit is held before it is trusted, a hit racing GC's removal is a miss (never an error),
// Save holds the new snapshot before the record exists, and a hold ends with the result.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "base/temp_dir.h"
#include "cache/cache_index.h"
#include "cache/gc.h"
#include "cache/lease.h"
#include "cache/lmdb_cache_index.h"
#include "engine/core/cache_seam.h"
#include "engine/ops/results.h"
#include "engine/ops/worker.h"
#include "engine/solver/vertex.h"
#include "snapshotter/probe.h"

namespace kiln::engine {
namespace {

class NopOp : public solver::Op {
 public:
  absl::StatusOr<base::Digest> CacheKey(solver::ExecContext&,
                                        const std::vector<solver::InputRef>&) const override {
    return base::Digest::Of("nop");
  }
  absl::StatusOr<solver::ResultRef> Exec(solver::ExecContext&,
                                         const std::vector<solver::InputRef>&) const override {
    return absl::UnimplementedError("nop");
  }
};

// GC's snapshot side over the real snapshotter.
class Remover : public cache::SnapshotRemover {
 public:
  explicit Remover(snapshotter::Snapshotter* s) : s_(s) {}
  absl::Status Remove(const std::string& k) override { return s_->Remove(k); }
  absl::StatusOr<int64_t> Usage(const std::string&) override { return int64_t{0}; }

 private:
  snapshotter::Snapshotter* s_;
};

cache::CacheRecord Rec(const std::string& snapshot) {
  cache::CacheRecord r;
  r.snapshot = snapshot;
  return r;
}

class LeaseSeamTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = base::TempDir::Create("kiln-lease-seam-");
    ASSERT_TRUE(dir.ok()) << dir.status();
    dir_ = std::make_unique<base::TempDir>(std::move(*dir));
    auto snaps =
        snapshotter::OpenSnapshotter(dir_->path() + "/snapshots", snapshotter::Driver::kAuto);
    ASSERT_TRUE(snaps.ok()) << snaps.status();
    snaps_ = std::move(snaps->snapshotter);
    auto index = cache::OpenLmdbCacheIndex(dir_->path() + "/cache");
    ASSERT_TRUE(index.ok()) << index.status();
    index_ = std::move(*index);
    worker_.snapshots = snaps_.get();
    worker_.root = dir_->path();
    worker_.tmp = dir_->path();
    seam_ = std::make_unique<SnapshotCacheSeam>(&worker_, index_.get(), &leases_);
    solver::VertexDisplay display;
    display.name = "[1/1] NOP";
    auto v = solver::Vertex::Create(base::Digest::Of("nop vertex"), std::make_shared<NopOp>(), {},
                                    display);
    ASSERT_TRUE(v.ok()) << v.status();
    vertex_ = *v;
  }

  // A committed snapshot with nothing in it.
  std::string Commit(const std::string& name) {
    std::string key = name + "-active";
    EXPECT_TRUE(snaps_->Prepare(key, "").ok());
    EXPECT_TRUE(snaps_->Commit(name, key).ok());
    return name;
  }

  // The real collector over this index and snapshotter, lease-aware, removing everything
  // unused.
  absl::StatusOr<cache::GcReport> PruneAll() {
    Remover remover(snaps_.get());
    cache::GcOptions o;
    o.index = index_.get();
    o.snapshots = &remover;
    o.leases = &leases_;
    cache::GarbageCollector gc(o);
    cache::GcPolicy all;
    all.all = true;
    return gc.Prune(all);
  }

  cache::LeaseManager leases_;  // outlives the seam and every result
  std::unique_ptr<base::TempDir> dir_;
  std::unique_ptr<snapshotter::Snapshotter> snaps_;
  std::unique_ptr<cache::CacheIndex> index_;
  Worker worker_;
  std::unique_ptr<SnapshotCacheSeam> seam_;
  solver::VertexRef vertex_;
  base::Digest key_ = base::Digest::Of("step key");
};

TEST_F(LeaseSeamTest, SaveHoldsBeforeTheRecordAndTheHoldEndsWithTheResult) {
  std::string s = Commit("s-saved");
  auto result = std::make_shared<SnapshotResult>(s);
  ASSERT_TRUE(seam_->Save(key_, result, *vertex_).ok());
  EXPECT_EQ(leases_.Count(cache::LeaseKind::kSnapshot, s), 1);
  EXPECT_TRUE(result->held());
  EXPECT_FALSE(leases_.TryBeginRemoval(cache::LeaseKind::kSnapshot, s).has_value());
  result.reset();
  EXPECT_EQ(leases_.Count(cache::LeaseKind::kSnapshot, s), 0);
}

TEST_F(LeaseSeamTest, SavingASnapshotGcTookIsAbortedSoTheStepReruns) {
  // An op returned a snapshot that existed before it ran (an unpacked base image) ...
  std::string s = Commit("s-reused");
  auto result = std::make_shared<SnapshotResult>(s);
  {
    // ... while GC is removing it: the hold fails.
    auto guard = leases_.TryBeginRemoval(cache::LeaseKind::kSnapshot, s);
    ASSERT_TRUE(guard.has_value());
    absl::Status saved = seam_->Save(key_, result, *vertex_);
    EXPECT_TRUE(absl::IsAborted(saved)) << saved;
  }
  // ... or after GC removed it: the hold succeeds but the snapshot is gone.
  ASSERT_TRUE(snaps_->Remove(s).ok());
  absl::Status saved = seam_->Save(key_, result, *vertex_);
  EXPECT_TRUE(absl::IsAborted(saved)) << saved;
  auto rec = index_->Lookup(cache::CacheKey(key_));
  ASSERT_TRUE(rec.ok());
  EXPECT_FALSE(rec->has_value()) << "no record may point at a collected snapshot";
}

TEST_F(LeaseSeamTest, HitsAreHeldAndCountedPerUser) {
  std::string s = Commit("s-hit");
  ASSERT_TRUE(index_->Put(cache::CacheKey(key_), Rec(s)).ok());
  auto a = seam_->Lookup(key_, *vertex_);
  auto b = seam_->Lookup(key_, *vertex_);  // a second stage on the same parent
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_NE(*a, nullptr);
  ASSERT_NE(*b, nullptr);
  EXPECT_EQ(leases_.Count(cache::LeaseKind::kSnapshot, s), 2);
  a->reset();
  EXPECT_EQ(leases_.Count(cache::LeaseKind::kSnapshot, s), 1);
  EXPECT_FALSE(leases_.TryBeginRemoval(cache::LeaseKind::kSnapshot, s).has_value());
  b->reset();
  EXPECT_EQ(leases_.Count(cache::LeaseKind::kSnapshot, s), 0);
}

TEST_F(LeaseSeamTest, AHitRacingGcRemovalIsAMissNotAnError) {
  std::string s = Commit("s-race");
  ASSERT_TRUE(index_->Put(cache::CacheKey(key_), Rec(s)).ok());
  {
    // GC is between its removal guard and the snapshot's removal: the hold fails (Aborted).
    auto guard = leases_.TryBeginRemoval(cache::LeaseKind::kSnapshot, s);
    ASSERT_TRUE(guard.has_value());
    auto hit = seam_->Lookup(key_, *vertex_);
    ASSERT_TRUE(hit.ok()) << hit.status();
    EXPECT_EQ(*hit, nullptr) << "a hit on a snapshot being collected must be a miss";
    EXPECT_EQ(leases_.Count(cache::LeaseKind::kSnapshot, s), 0);
  }
  // The real collector, with the record unused, takes it; the next lookup is a plain miss.
  auto report = PruneAll();
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->removed.size(), 1u);
  EXPECT_FALSE(snaps_->Stat(s).ok());
  auto miss = seam_->Lookup(key_, *vertex_);
  ASSERT_TRUE(miss.ok()) << miss.status();
  EXPECT_EQ(*miss, nullptr);
}

TEST_F(LeaseSeamTest, GcKeepsAHeldHitAndItsParent) {
  std::string parent = Commit("s-parent");
  std::string key = "s-child-active";
  ASSERT_TRUE(snaps_->Prepare(key, parent).ok());
  ASSERT_TRUE(snaps_->Commit("s-child", key).ok());
  base::Digest parent_key = base::Digest::Of("parent step");
  ASSERT_TRUE(index_->Put(cache::CacheKey(parent_key), Rec(parent)).ok());
  ASSERT_TRUE(index_->Put(cache::CacheKey(key_), Rec("s-child")).ok());
  auto hit = seam_->Lookup(key_, *vertex_);  // a running build uses the child only
  ASSERT_TRUE(hit.ok() && *hit != nullptr);
  auto report = PruneAll();
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->kept_leased, 1);
  EXPECT_TRUE(report->removed.empty()) << "the parent of a held snapshot must stay";
  EXPECT_TRUE(snaps_->Stat("s-child").ok());
  EXPECT_TRUE(snaps_->Stat(parent).ok());
  hit->reset();
  report = PruneAll();
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->removed.size(), 2u) << "child first, then the parent";
  EXPECT_FALSE(snaps_->Stat(parent).ok());
}

}  // namespace
}  // namespace kiln::engine
