// base::LmdbEnv / LmdbTxn, in a scratch dir this test makes.
#include "base/lmdb.h"

#include <gtest/gtest.h>
#include <lmdb.h>
#include <sys/stat.h>

#include <string>

#include "base/temp_dir.h"

namespace kiln::base {
namespace {

class LmdbTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = TempDir::Create("kiln-lmdb-test-");
    ASSERT_TRUE(dir.ok()) << dir.status();
    dir_ = std::move(*dir);
  }
  TempDir dir_;
};

TEST_F(LmdbTest, PutGetDelAndIterateInKeyOrder) {
  LmdbEnv::Options o;
  o.databases = {"a", "b"};
  absl::StatusOr<std::shared_ptr<LmdbEnv>> env = LmdbEnv::Open(dir_.path() + "/env", o);
  ASSERT_TRUE(env.ok()) << env.status();
  {
    absl::StatusOr<LmdbTxn> txn = LmdbTxn::Begin(**env, /*write=*/true);
    ASSERT_TRUE(txn.ok()) << txn.status();
    for (const char* k : {"k2", "k1", "k3"}) {
      ASSERT_TRUE(txn->Put((*env)->dbi(0), k, std::string("v") + k).ok());
    }
    ASSERT_TRUE(txn->Put((*env)->dbi(1), "k1", "other db").ok());
    ASSERT_TRUE(txn->Commit().ok());
  }
  absl::StatusOr<LmdbTxn> txn = LmdbTxn::Begin(**env, /*write=*/true);
  ASSERT_TRUE(txn.ok());
  absl::StatusOr<std::optional<std::string_view>> v = txn->Get((*env)->dbi(0), "k1");
  ASSERT_TRUE(v.ok() && v->has_value());
  EXPECT_EQ(**v, "vk1");
  v = txn->Get((*env)->dbi(1), "k1");
  ASSERT_TRUE(v.ok() && v->has_value());
  EXPECT_EQ(**v, "other db");
  EXPECT_TRUE(*txn->Del((*env)->dbi(0), "k2"));
  EXPECT_FALSE(*txn->Del((*env)->dbi(0), "k2"));
  std::string seen;
  ASSERT_TRUE(txn->ForEach((*env)->dbi(0),
                           [&](std::string_view k, std::string_view) {
                             seen += std::string(k) + ",";
                             return true;
                           })
                  .ok());
  EXPECT_EQ(seen, "k1,k3,");
  ASSERT_TRUE(txn->Commit().ok());
  EXPECT_EQ(txn->Commit().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(LmdbTest, OneEnvironmentPerLocationInAProcess) {
  LmdbEnv::Options o;
  o.databases = {"a"};
  auto first = LmdbEnv::Open(dir_.path() + "/env", o);
  auto second = LmdbEnv::Open(dir_.path() + "/env/", o);
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_EQ(first->get(), second->get());
  o.databases = {"b"};
  EXPECT_EQ(LmdbEnv::Open(dir_.path() + "/env", o).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST_F(LmdbTest, SingleFileModeMakesTheFileAndItsLock) {
  LmdbEnv::Options o;
  o.databases = {"a"};
  o.single_file = true;
  o.file_mode = 0600;
  const std::string path = dir_.path() + "/meta.db";
  auto env = LmdbEnv::Open(path, o);
  ASSERT_TRUE(env.ok()) << env.status();
  struct stat st;
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode));
  EXPECT_EQ(st.st_mode & 0077, 0u);
  EXPECT_EQ(::stat((path + "-lock").c_str(), &st), 0);
  EXPECT_TRUE((*env)->Sync().ok());
  EXPECT_FALSE(LmdbEnv::Open(dir_.path() + "/missing/meta.db", o).ok());
}

// A map that fills is ResourceExhausted; the next open reserves twice the file, so the
// store grows instead of staying full.
TEST_F(LmdbTest, MapFullIsResourceExhaustedAndTheNextOpenGrows) {
  LmdbEnv::Options o;
  o.databases = {"a"};
  o.map_size = size_t{1} << 20;
  const std::string path = dir_.path() + "/env";
  const std::string value(64 * 1024, 'x');
  int written = 0;
  {
    auto env = LmdbEnv::Open(path, o);
    ASSERT_TRUE(env.ok()) << env.status();
    absl::Status s;
    for (; written < 1000 && s.ok(); ++written) {
      auto txn = LmdbTxn::Begin(**env, true);
      ASSERT_TRUE(txn.ok());
      s = txn->Put((*env)->dbi(0), "k" + std::to_string(written), value);
      if (s.ok()) s = txn->Commit();
    }
    EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted) << s;
    ASSERT_GT(written, 2);
  }
  auto env = LmdbEnv::Open(path, o);
  ASSERT_TRUE(env.ok()) << env.status();
  for (int i = 0; i < 4; ++i) {
    auto txn = LmdbTxn::Begin(**env, true);
    ASSERT_TRUE(txn.ok());
    absl::Status s = txn->Put((*env)->dbi(0), "more" + std::to_string(i), value);
    if (s.ok()) s = txn->Commit();
    EXPECT_TRUE(s.ok()) << "after reopening: " << s;
  }
  auto txn = LmdbTxn::Begin(**env, false);
  ASSERT_TRUE(txn.ok());
  auto first = txn->Get((*env)->dbi(0), "k0");
  ASSERT_TRUE(first.ok() && first->has_value());
  EXPECT_EQ((*first)->size(), value.size());
}

// Files written with plain LMDB calls (as both stores wrote them before this wrapper) open
// and read back unchanged: the wrapper adds no framing of its own.
TEST_F(LmdbTest, ReadsEnvironmentsWrittenWithRawLmdb) {
  const std::string path = dir_.path() + "/raw.db";
  {
    MDB_env* env = nullptr;
    ASSERT_EQ(mdb_env_create(&env), 0);
    ASSERT_EQ(mdb_env_set_maxdbs(env, 4), 0);
    ASSERT_EQ(mdb_env_open(env, path.c_str(), MDB_NOSUBDIR | MDB_NOTLS, 0600), 0);
    MDB_txn* txn = nullptr;
    ASSERT_EQ(mdb_txn_begin(env, nullptr, 0, &txn), 0);
    MDB_dbi dbi = 0;
    ASSERT_EQ(mdb_dbi_open(txn, "snapshots", MDB_CREATE, &dbi), 0);
    std::string key = "key", val = "{\"raw\":1}";
    MDB_val k{key.size(), key.data()}, v{val.size(), val.data()};
    ASSERT_EQ(mdb_put(txn, dbi, &k, &v, 0), 0);
    ASSERT_EQ(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
  }
  LmdbEnv::Options o;
  o.databases = {"snapshots"};
  o.single_file = true;
  auto env = LmdbEnv::Open(path, o);
  ASSERT_TRUE(env.ok()) << env.status();
  auto txn = LmdbTxn::Begin(**env, false);
  ASSERT_TRUE(txn.ok());
  auto v = txn->Get((*env)->dbi(0), "key");
  ASSERT_TRUE(v.ok() && v->has_value());
  EXPECT_EQ(**v, "{\"raw\":1}");
}

}  // namespace
}  // namespace kiln::base
