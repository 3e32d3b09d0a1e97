// Leases (counting, removal guards, threads) and GC (age, size/LRU, sharing, chains, blobs,
// du) over the real FsContentStore and LmdbCacheIndex with a fake snapshot side.
#include <gtest/gtest.h>

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "base/temp_dir.h"
#include "cache/fs_content_store.h"
#include "cache/gc.h"
#include "cache/lease.h"
#include "cache/lmdb_cache_index.h"
#include "tests/cache/fake_clock.h"

namespace kiln::cache {
namespace {

using base::Digest;
using test_util::FakeClock;

TEST(LeaseTest, HoldsAreCountedAcrossLeases) {
  LeaseManager m;
  Lease a = m.NewLease(), b = m.NewLease();
  ASSERT_TRUE(a.HoldSnapshot("parent").ok());
  ASSERT_TRUE(b.HoldSnapshot("parent").ok());
  ASSERT_TRUE(b.HoldBlob(Digest::Of("x")).ok());
  EXPECT_EQ(m.Count(LeaseKind::kSnapshot, "parent"), 2);
  a.Release();
  a.Release();  // idempotent
  EXPECT_TRUE(m.IsSnapshotHeld("parent"));
  EXPECT_TRUE(m.IsBlobHeld(Digest::Of("x")));
  EXPECT_EQ(a.HoldSnapshot("p").code(), absl::StatusCode::kFailedPrecondition);
  {
    Lease moved = std::move(b);
    EXPECT_TRUE(m.IsSnapshotHeld("parent"));
  }
  EXPECT_FALSE(m.IsSnapshotHeld("parent"));
  EXPECT_FALSE(m.IsBlobHeld(Digest::Of("x")));
}

TEST(LeaseTest, RemovalGuardExcludesHolds) {
  LeaseManager m;
  {
    Lease l = m.NewLease();
    ASSERT_TRUE(l.HoldSnapshot("s").ok());
    EXPECT_FALSE(m.TryBeginRemoval(LeaseKind::kSnapshot, "s").has_value());
  }
  {
    auto guard = m.TryBeginRemoval(LeaseKind::kSnapshot, "s");
    ASSERT_TRUE(guard.has_value());
    EXPECT_FALSE(m.TryBeginRemoval(LeaseKind::kSnapshot, "s").has_value());
    Lease l = m.NewLease();
    EXPECT_EQ(l.HoldSnapshot("s").code(), absl::StatusCode::kAborted);
    EXPECT_EQ(l.holds(), 0u);
  }
  Lease l = m.NewLease();
  EXPECT_TRUE(l.HoldSnapshot("s").ok());
}

TEST(LeaseTest, ConcurrentHoldersAndCollector) {
  LeaseManager m;
  std::atomic<bool> violated{false};
  std::atomic<int> removals{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 2000; ++i) {
        Lease l = m.NewLease();
        if (l.HoldSnapshot("shared-parent").ok() &&
            m.Count(LeaseKind::kSnapshot, "shared-parent") < 1) {
          violated = true;
        }
      }
    });
  }
  threads.emplace_back([&] {
    for (int i = 0; i < 2000; ++i) {
      auto g = m.TryBeginRemoval(LeaseKind::kSnapshot, "shared-parent");
      if (g.has_value()) {
        ++removals;
        if (m.Count(LeaseKind::kSnapshot, "shared-parent") != 0) violated = true;
      }
    }
  });
  for (auto& th : threads) th.join();
  EXPECT_FALSE(violated.load());
  EXPECT_EQ(m.Count(LeaseKind::kSnapshot, "shared-parent"), 0);
}

// Snapshots with parents; Remove refuses while children exist (as containerd's does).
class FakeSnapshots : public SnapshotRemover {
 public:
  void Add(const std::string& key, int64_t size, const std::string& parent = "") {
    absl::MutexLock lock(&mu_);
    snaps_[key] = {size, parent};
  }
  bool Has(const std::string& key) {
    absl::MutexLock lock(&mu_);
    return snaps_.contains(key);
  }
  absl::Status Remove(const std::string& key) override {
    absl::MutexLock lock(&mu_);
    if (!snaps_.contains(key)) return absl::NotFoundError(key);
    for (const auto& [k, s] : snaps_) {
      if (s.second == key) return absl::FailedPreconditionError("has child " + k);
    }
    snaps_.erase(key);
    return absl::OkStatus();
  }
  absl::StatusOr<int64_t> Usage(const std::string& key) override {
    absl::MutexLock lock(&mu_);
    auto it = snaps_.find(key);
    if (it == snaps_.end()) return absl::NotFoundError(key);
    return it->second.first;
  }

 private:
  absl::Mutex mu_;
  std::map<std::string, std::pair<int64_t, std::string>> snaps_ ABSL_GUARDED_BY(mu_);
};

// Roots as the engine reports them: blobs of stored images, and snapshot -> layer blob memos
// that count while the snapshot exists. `after_first_mark` runs once, right after a mark (a
// racing image store).
class FakeReferences : public GcReferences {
 public:
  explicit FakeReferences(FakeSnapshots* snaps) : snaps_(snaps) {}
  absl::Status MarkRoots(absl::flat_hash_set<Digest>* live) override {
    ++marks;
    live->insert(roots.begin(), roots.end());
    if (after_first_mark) {
      auto f = std::move(after_first_mark);
      after_first_mark = nullptr;
      f();
    }
    return absl::OkStatus();
  }
  uint64_t RootsVersion() override { return version; }
  absl::Status SnapshotBlobs(absl::flat_hash_set<Digest>* live) override {
    for (const auto& [snap, blob] : memos) {
      if (snaps_->Has(snap)) live->insert(blob);
    }
    return absl::OkStatus();
  }

  std::set<Digest> roots;
  std::multimap<std::string, Digest> memos;
  uint64_t version = 0;
  int marks = 0;
  std::function<void()> after_first_mark;

 private:
  FakeSnapshots* snaps_;
};

class GcTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto d = base::TempDir::Create("kiln-gc-");
    ASSERT_TRUE(d.ok());
    dir_ = std::move(*d);
    FsContentStoreOptions so;
    so.now = clock_.Fn();
    auto s = OpenFsContentStore(dir_.path() + "/content", so);
    ASSERT_TRUE(s.ok()) << s.status();
    store_ = std::move(*s);
    LmdbCacheIndexOptions io;
    io.now = clock_.Fn();
    auto i = OpenLmdbCacheIndex(dir_.path() + "/index", io);
    ASSERT_TRUE(i.ok()) << i.status();
    index_ = std::move(*i);
    GcOptions g;
    g.index = index_.get();
    g.snapshots = &snaps_;
    g.store = store_.get();
    g.leases = &leases_;
    g.now = clock_.Fn();
    g.references = &refs_;
    gc_ = std::make_unique<GarbageCollector>(std::move(g));
  }

  // A record with a snapshot of `size` bytes and (a memo of) one layer blob "layer-<blob>".
  CacheKey AddRecord(const std::string& name, int64_t size, const std::string& blob = "",
                     const std::string& parent = "") {
    snaps_.Add(name, size, parent);
    CacheRecord r;
    r.snapshot = name;
    r.size = size;
    if (!blob.empty()) {
      auto info = store_->Put("layer-" + blob);
      EXPECT_TRUE(info.ok());
      refs_.memos.emplace(name, info->digest);
    }
    CacheKey key = Digest::Of("key-" + name);
    EXPECT_TRUE(index_->Put(key, r).ok());
    return key;
  }

  std::set<std::string> Snapshots(const GcReport& r) {
    std::set<std::string> s;
    for (const auto& rec : r.removed) s.insert(rec.snapshot);
    return s;
  }

  FakeClock clock_;
  base::TempDir dir_;
  std::unique_ptr<ContentStore> store_;
  std::unique_ptr<CacheIndex> index_;
  FakeSnapshots snaps_;
  LeaseManager leases_;
  FakeReferences refs_{&snaps_};
  std::unique_ptr<GarbageCollector> gc_;
};

TEST_F(GcTest, PruneByAgeSkipsLeasedAndRecent) {
  AddRecord("old", 1000, "old");
  AddRecord("old-leased", 2000, "old-leased");
  clock_.Advance(absl::Hours(48));
  CacheKey recent = AddRecord("recent", 3000, "recent");
  Lease lease = leases_.NewLease();
  ASSERT_TRUE(lease.HoldSnapshot("old-leased").ok());
  GcPolicy policy;
  policy.keep_duration = absl::Hours(24);
  auto report = gc_->Prune(policy);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(Snapshots(*report), std::set<std::string>{"old"});
  EXPECT_EQ(report->kept_leased, 1);
  EXPECT_EQ(report->blob_bytes_freed, 9);  // "layer-old"
  EXPECT_EQ(report->bytes_freed, 1000 + 9);
  EXPECT_FALSE(snaps_.Has("old"));
  EXPECT_TRUE(snaps_.Has("old-leased"));
  EXPECT_FALSE(store_->Has(Digest::Of("layer-old")));
  EXPECT_TRUE(store_->Has(Digest::Of("layer-old-leased")));
  EXPECT_FALSE(index_->Lookup(Digest::Of("key-old"))->has_value());
  EXPECT_TRUE(index_->Lookup(recent)->has_value());
  // Once the lease is gone, the next prune takes it.
  lease.Release();
  auto again = gc_->Prune(policy);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(Snapshots(*again), std::set<std::string>{"old-leased"});
}

TEST_F(GcTest, PruneByKeepStorageIsLruAndLookupsCount) {
  std::vector<CacheKey> keys;
  for (int i = 0; i < 4; ++i) {
    keys.push_back(AddRecord("s" + std::to_string(i), 100));
    clock_.Advance(absl::Minutes(1));
  }
  ASSERT_TRUE(index_->Lookup(keys[0]).ok());  // s0 becomes the most recently used
  GcPolicy policy;
  policy.keep_storage = 250;
  auto report = gc_->Prune(policy);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(Snapshots(*report), (std::set<std::string>{"s1", "s2"}));
  EXPECT_EQ(report->bytes_freed, 200);
  auto du = gc_->DiskUsage();
  ASSERT_TRUE(du.ok());
  ASSERT_EQ(du->size(), 2u);
  EXPECT_EQ((*du)[0].snapshot, "s0");  // most recently used first
  EXPECT_EQ((*du)[1].snapshot, "s3");
}

TEST_F(GcTest, SharedAndImageRootedBlobsSurvive) {
  AddRecord("a", 10, "common");
  AddRecord("b", 10, "common");
  AddRecord("img", 10, "img");
  AddRecord("gone", 10, "gone");
  refs_.roots.insert(Digest::Of("layer-img"));  // a stored image reaches it
  auto du = gc_->DiskUsage();
  ASSERT_TRUE(du.ok());
  // Prune everything unleased: "b" is leased.
  Lease keep = leases_.NewLease();
  ASSERT_TRUE(keep.HoldSnapshot("b").ok());
  GcPolicy policy;
  policy.all = true;
  auto report = gc_->Prune(policy);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(Snapshots(*report), (std::set<std::string>{"a", "img", "gone"}));
  EXPECT_TRUE(store_->Has(Digest::Of("layer-common"))) << "still used by b";
  EXPECT_TRUE(store_->Has(Digest::Of("layer-img"))) << "an image reaches it";
  EXPECT_FALSE(store_->Has(Digest::Of("layer-gone")));
}

TEST_F(GcTest, ASnapshotKeepsItsMemoBlobsUntilItIsGone) {
  AddRecord("s", 10);
  auto made = store_->Put("layer made for an export of s");
  ASSERT_TRUE(made.ok());
  refs_.memos.emplace("s", made->digest);
  GcPolicy all;
  all.all = true;
  {
    Lease l = leases_.NewLease();
    ASSERT_TRUE(l.HoldSnapshot("s").ok());
    auto report = gc_->Prune(all);
    ASSERT_TRUE(report.ok()) << report.status();
    EXPECT_TRUE(report->removed_blobs.empty());
    EXPECT_TRUE(store_->Has(made->digest)) << "its snapshot still exists";
  }
  auto report = gc_->Prune(all);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_FALSE(snaps_.Has("s"));
  EXPECT_EQ(report->removed_blobs, std::vector<Digest>{made->digest});
}

TEST_F(GcTest, ChainsAreRemovedChildFirstAndLeasedChildKeepsParent) {
  AddRecord("base", 10);
  clock_.Advance(absl::Seconds(1));
  AddRecord("mid", 10, "", "base");
  clock_.Advance(absl::Seconds(1));
  AddRecord("top", 10, "", "mid");
  GcPolicy all;
  all.all = true;
  {
    Lease l = leases_.NewLease();
    ASSERT_TRUE(l.HoldSnapshot("top").ok());
    auto report = gc_->Prune(all);
    ASSERT_TRUE(report.ok()) << report.status();
    EXPECT_TRUE(report->removed.empty());
    EXPECT_TRUE(snaps_.Has("base"));
  }
  auto report = gc_->Prune(all);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->removed.size(), 3u);
  EXPECT_FALSE(snaps_.Has("base"));
  EXPECT_EQ(report->bytes_freed, 30);
}

TEST_F(GcTest, OrphanBlobsByAgeUnlessReferencedOrLeased) {
  auto orphan = store_->Put("orphan");
  auto labelled = store_->Put("manifest", {{"kiln.gc.ref.img", "x"}});
  auto leased = store_->Put("leased");
  ASSERT_TRUE(orphan.ok() && labelled.ok() && leased.ok());
  auto rooted = store_->Put("rooted");
  ASSERT_TRUE(rooted.ok());
  refs_.roots.insert(rooted->digest);
  Lease l = leases_.NewLease();
  ASSERT_TRUE(l.HoldBlob(leased->digest).ok());
  clock_.Advance(absl::Hours(2));
  auto fresh = store_->Put("fresh");
  GcPolicy policy;
  policy.keep_duration = absl::Hours(1);
  auto report = gc_->Prune(policy);
  ASSERT_TRUE(report.ok()) << report.status();
  std::set<Digest> removed(report->removed_blobs.begin(), report->removed_blobs.end());
  EXPECT_EQ(removed, (std::set<Digest>{orphan->digest, labelled->digest}))
      << "labels no longer root anything";
  EXPECT_EQ(report->blob_bytes_freed, 6 + 8);
  EXPECT_TRUE(store_->Has(rooted->digest));
  EXPECT_TRUE(store_->Has(leased->digest));
  EXPECT_TRUE(store_->Has(fresh->digest));
}

TEST_F(GcTest, DiskUsageReportsSizeLastUsedAndUse) {
  CacheKey k = AddRecord("solo", 500, "solo");
  clock_.Advance(absl::Minutes(3));
  ASSERT_TRUE(index_->Lookup(k).ok());
  Lease l = leases_.NewLease();
  ASSERT_TRUE(l.HoldSnapshot("solo").ok());
  auto du = gc_->DiskUsage();
  ASSERT_TRUE(du.ok()) << du.status();
  ASSERT_EQ(du->size(), 1u);
  EXPECT_EQ((*du)[0].size, 500);
  EXPECT_EQ((*du)[0].last_used, clock_.Now());
  EXPECT_FALSE((*du)[0].shared);
  EXPECT_TRUE((*du)[0].in_use);
}

}  // namespace
}  // namespace kiln::cache

namespace kiln::cache {
namespace {

TEST_F(GcTest, ABlobRootedAfterTheMarkIsKeptByTheReMark) {
  auto stored = store_->Put("layer of an image being stored");
  auto orphan = store_->Put("orphan");
  ASSERT_TRUE(stored.ok() && orphan.ok());
  // The image is stored (and its builder's lease ends) between the mark and the deletions.
  refs_.after_first_mark = [&] {
    refs_.roots.insert(stored->digest);
    ++refs_.version;
  };
  GcPolicy all;
  all.all = true;
  auto report = gc_->Prune(all);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->removed_blobs, std::vector<Digest>{orphan->digest});
  EXPECT_TRUE(store_->Has(stored->digest)) << "the version moved: GC must mark again";
  EXPECT_EQ(refs_.marks, 2);
}

TEST_F(GcTest, RootsThatKeepMovingStopTheBlobPassWithoutDeleting) {
  auto orphan = store_->Put("orphan");
  ASSERT_TRUE(orphan.ok());
  struct Moving : FakeReferences {
    using FakeReferences::FakeReferences;
    uint64_t RootsVersion() override { return ++version; }
  } always(&snaps_);
  GcOptions g;
  g.index = index_.get();
  g.snapshots = &snaps_;
  g.store = store_.get();
  g.leases = &leases_;
  g.references = &always;
  g.now = clock_.Fn();
  GarbageCollector gc(std::move(g));
  GcPolicy all;
  all.all = true;
  auto report = gc.Prune(all);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_TRUE(report->removed_blobs.empty());
  EXPECT_TRUE(store_->Has(orphan->digest));
  EXPECT_EQ(always.marks, 4);
}

}  // namespace
}  // namespace kiln::cache
