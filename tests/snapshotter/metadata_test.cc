// MetadataStore on a real LMDB file: encoding, transactions, persistence.
#include "snapshotter/metadata.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/snapshotter/test_util.h"

namespace kiln::snapshotter::testing {
namespace {

SnapshotRecord Sample(const std::string& key) {
  SnapshotRecord r;
  r.id = 42;
  r.info = Info{Kind::kCommitted, key, "parent", {{"a", "1"}, {"b", ""}},
                absl::FromUnixNanos(1700000000123456789), absl::FromUnixNanos(1700000001000000001)};
  r.flattened = true;
  r.depth = 2;
  r.children = 3;
  r.lowers = {"42/flat", "7/fs"};
  return r;
}

TEST(MetadataTest, EncodeDecodeRoundTrip) {
  SnapshotRecord r = Sample("k");
  KILN_ASSERT_OK_AND_ASSIGN(SnapshotRecord back,
                            internal::DecodeRecord("k", internal::EncodeRecord(r)));
  EXPECT_EQ(back, r);
}

TEST(MetadataTest, MalformedRecordsAreDataLoss) {
  for (std::string bad : {"", "{", "[]", R"({"id":1})", R"({"id":"x","kind":"active"})",
                          R"({"id":1,"kind":"weird","parent":"","labels":{},"created":0,)"
                          R"("updated":0,"flattened":false,"depth":0,"children":0,"lowers":[]})"}) {
    EXPECT_EQ(internal::DecodeRecord("k", bad).status().code(), absl::StatusCode::kDataLoss)
        << bad;
  }
}

TEST(MetadataTest, TransactionsCommitAbortAndPersist) {
  std::string path = NewDir("meta") + "/metadata.db";
  {
    KILN_ASSERT_OK_AND_ASSIGN(auto store, MetadataStore::Open(path, {}));
    {
      KILN_ASSERT_OK_AND_ASSIGN(MetadataStore::Txn txn, store->Begin(true));
      KILN_ASSERT_OK(txn.Put(Sample("b")));
      KILN_ASSERT_OK(txn.Put(Sample("a")));
      KILN_ASSERT_OK(txn.SetCounter("next", 7));
      KILN_ASSERT_OK(txn.Commit());
    }
    {
      KILN_ASSERT_OK_AND_ASSIGN(MetadataStore::Txn txn, store->Begin(true));
      KILN_ASSERT_OK(txn.Put(Sample("c")));
      KILN_ASSERT_OK(txn.Delete("a"));
      // Destroyed without Commit: aborted.
    }
    KILN_ASSERT_OK_AND_ASSIGN(MetadataStore::Txn txn, store->Begin(true));
    EXPECT_EQ(txn.Delete("nope").code(), absl::StatusCode::kNotFound);
    SnapshotRecord empty;
    EXPECT_EQ(txn.Put(empty).code(), absl::StatusCode::kInvalidArgument);
  }
  KILN_ASSERT_OK_AND_ASSIGN(auto store, MetadataStore::Open(path, {}));
  KILN_ASSERT_OK_AND_ASSIGN(MetadataStore::Txn txn, store->Begin(false));
  std::vector<std::string> keys;
  KILN_ASSERT_OK(txn.ForEach([&](const SnapshotRecord& r) {
    keys.push_back(r.info.name);
    return absl::OkStatus();
  }));
  EXPECT_EQ(keys, (std::vector<std::string>{"a", "b"}));
  KILN_ASSERT_OK_AND_ASSIGN(auto a, txn.Get("a"));
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(*a, Sample("a"));
  KILN_ASSERT_OK_AND_ASSIGN(auto c, txn.Get("c"));
  EXPECT_FALSE(c.has_value());
  KILN_ASSERT_OK_AND_ASSIGN(uint64_t next, txn.GetCounter("next"));
  EXPECT_EQ(next, 7u);
  KILN_ASSERT_OK_AND_ASSIGN(uint64_t unset, txn.GetCounter("unset"));
  EXPECT_EQ(unset, 0u);
}

}  // namespace
}  // namespace kiln::snapshotter::testing
