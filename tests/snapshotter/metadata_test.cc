// MetadataStore on a real LMDB file: encoding, transactions, persistence.
#include "snapshotter/metadata.h"

#include <lmdb.h>

#include <cstring>
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

// A store file as main's MetadataStore wrote it before the shared LMDB wrapper (raw mdb_*
// calls: one file, MDB_NOSUBDIR, databases "snapshots" with JSON records and "counters" with
// 8-byte native integers) opens and reads back unchanged.
TEST(MetadataTest, OpensAStoreWrittenBeforeTheSharedWrapper) {
  const std::string path = NewDir("meta-compat") + "/metadata.db";
  const std::string json =
      R"({"children":3,"created":1700000000123456789,"depth":2,"flattened":true,"id":42,)"
      R"("kind":"committed","labels":{"a":"1","b":""},"lowers":["42/flat","7/fs"],)"
      R"("parent":"parent","updated":1700000001000000001})";
  {
    MDB_env* env = nullptr;
    ASSERT_EQ(mdb_env_create(&env), 0);
    ASSERT_EQ(mdb_env_set_maxdbs(env, 4), 0);
    ASSERT_EQ(mdb_env_open(env, path.c_str(), MDB_NOSUBDIR | MDB_NOTLS, 0600), 0);
    MDB_txn* txn = nullptr;
    ASSERT_EQ(mdb_txn_begin(env, nullptr, 0, &txn), 0);
    MDB_dbi snapshots = 0, counters = 0;
    ASSERT_EQ(mdb_dbi_open(txn, "snapshots", MDB_CREATE, &snapshots), 0);
    ASSERT_EQ(mdb_dbi_open(txn, "counters", MDB_CREATE, &counters), 0);
    std::string key = "k";
    MDB_val k{key.size(), key.data()};
    MDB_val v{json.size(), const_cast<char*>(json.data())};
    ASSERT_EQ(mdb_put(txn, snapshots, &k, &v, 0), 0);
    uint64_t next = 9;
    std::string name = "next";
    MDB_val ck{name.size(), name.data()};
    MDB_val cv{sizeof next, &next};
    ASSERT_EQ(mdb_put(txn, counters, &ck, &cv, 0), 0);
    ASSERT_EQ(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
  }
  KILN_ASSERT_OK_AND_ASSIGN(auto store, MetadataStore::Open(path, {}));
  KILN_ASSERT_OK_AND_ASSIGN(MetadataStore::Txn txn, store->Begin(true));
  KILN_ASSERT_OK_AND_ASSIGN(std::optional<SnapshotRecord> r, txn.Get("k"));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(*r, Sample("k"));
  KILN_ASSERT_OK_AND_ASSIGN(uint64_t next, txn.GetCounter("next"));
  EXPECT_EQ(next, 9u);
  // And what this version writes is the same JSON, byte for byte.
  EXPECT_EQ(internal::EncodeRecord(Sample("k")), json);
}

}  // namespace
}  // namespace kiln::snapshotter::testing
