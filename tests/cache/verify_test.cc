// cache/verify.h: the content-store, cache-index and lease checks, on a real FsContentStore in
// a temp dir and the in-memory index fake.
#include "cache/verify.h"

#include <fcntl.h>
#include <unistd.h>

#include <string>

#include "base/temp_dir.h"
#include "base/unique_fd.h"
#include "cache/fs_content_store.h"
#include "gtest/gtest.h"
#include "tests/fakes/in_memory_cache_index.h"

namespace kiln::cache {
namespace {

class ContentVerifyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = base::TempDir::Create("kiln-verify-");
    ASSERT_TRUE(dir.ok()) << dir.status();
    dir_ = std::move(*dir);
    auto store = OpenFsContentStore(dir_.path() + "/content");
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
  }
  BlobInfo Put(const std::string& bytes) {
    auto info = store_->Put(bytes);
    EXPECT_TRUE(info.ok()) << info.status();
    return info.ok() ? *info : BlobInfo{};
  }
  void Flip(const base::Digest& d) {
    base::UniqueFd fd(::open(store_->PathOf(d).c_str(), O_WRONLY | O_CLOEXEC));
    ASSERT_TRUE(fd);
    ASSERT_EQ(::pwrite(fd.get(), "!", 1, 0), 1);
  }

  base::TempDir dir_;
  std::unique_ptr<ContentStore> store_;
  LeaseManager leases_;
};

TEST_F(ContentVerifyTest, CleanStoreHasNoProblem) {
  Put("one");
  Put("two");
  auto out = VerifyContentStore(*store_, &leases_, /*repair=*/true);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->checked, 2);
  EXPECT_TRUE(out->problems.empty());
  EXPECT_EQ(store_->Has(base::Digest::Of("one")), true);
}

TEST_F(ContentVerifyTest, FlippedByteIsReportedAndRepairDropsOnlyThatBlob) {
  BlobInfo good = Put("good blob");
  BlobInfo bad = Put("bad blob");
  Flip(bad.digest);
  auto out = VerifyContentStore(*store_, &leases_, /*repair=*/false);
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_EQ(out->problems.size(), 1u);
  EXPECT_EQ(out->problems[0].object, bad.digest.str());
  EXPECT_FALSE(out->problems[0].repaired);
  EXPECT_TRUE(store_->Has(bad.digest)) << "verify without repair deleted";
  out = VerifyContentStore(*store_, &leases_, /*repair=*/true);
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_EQ(out->problems.size(), 1u);
  EXPECT_TRUE(out->problems[0].repaired);
  EXPECT_FALSE(store_->Has(bad.digest));
  EXPECT_TRUE(store_->Has(good.digest));
}

TEST_F(ContentVerifyTest, RepairLeavesABlobARunningBuildHolds) {
  BlobInfo bad = Put("held");
  Flip(bad.digest);
  Lease lease = leases_.NewLease();
  ASSERT_TRUE(lease.HoldBlob(bad.digest).ok());
  auto out = VerifyContentStore(*store_, &leases_, /*repair=*/true);
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_EQ(out->problems.size(), 1u);
  EXPECT_FALSE(out->problems[0].repaired);
  EXPECT_TRUE(store_->Has(bad.digest));
}

TEST(CacheIndexVerifyTest, RecordsNamingMissingSnapshotsGoOnRepair) {
  fakes::InMemoryCacheIndex index;
  CacheKey a = base::Digest::Of("a"), b = base::Digest::Of("b"), c = base::Digest::Of("c");
  ASSERT_TRUE(index.Put(a, CacheRecord{.snapshot = "s-present"}).ok());
  ASSERT_TRUE(index.Put(b, CacheRecord{.snapshot = "s-gone"}).ok());
  ASSERT_TRUE(index.Put(c, CacheRecord{.snapshot = ""}).ok());  // the empty tree
  auto ok = [](const std::string& s) { return s == "s-present"; };
  auto out = VerifyCacheIndex(index, ok, nullptr, /*repair=*/false);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->checked, 3);
  ASSERT_EQ(out->problems.size(), 1u);
  EXPECT_EQ(out->problems[0].object, b.str());
  out = VerifyCacheIndex(index, ok, nullptr, /*repair=*/true);
  ASSERT_TRUE(out.ok()) << out.status();
  auto gone = index.Lookup(b);
  ASSERT_TRUE(gone.ok());
  EXPECT_FALSE(gone->has_value());
  auto kept = index.Lookup(a);
  ASSERT_TRUE(kept.ok());
  EXPECT_TRUE(kept->has_value());
  auto empty = index.Lookup(c);
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->has_value());
}

TEST(LeaseVerifyTest, HoldsWithoutBuildsAreLeaks) {
  LeaseManager leases;
  EXPECT_TRUE(VerifyLeases(leases, 0).problems.empty());
  Lease lease = leases.NewLease();
  ASSERT_TRUE(lease.HoldSnapshot("s-1").ok());
  EXPECT_TRUE(VerifyLeases(leases, 1).problems.empty());
  VerifyOutcome out = VerifyLeases(leases, 0);
  ASSERT_EQ(out.problems.size(), 1u);
  EXPECT_EQ(out.problems[0].object, "s-1");
  lease.Release();
  EXPECT_TRUE(VerifyLeases(leases, 0).problems.empty());
}

}  // namespace
}  // namespace kiln::cache
