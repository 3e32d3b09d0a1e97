// Internal: RAII wrappers over LMDB (environment, named databases, transactions).
//
// LmdbEnv owns one MDB_env opened with MDB_NOTLS (read transactions are not bound to a
// thread, so pool threads may each hold one) and MDB_NOMETASYNC (a system crash may undo the
// last commit, never corrupt the file; a process crash loses nothing). LMDB forbids opening
// the same environment twice in one process (closing one copy drops the other's locks), so
// Open shares one LmdbEnv per directory (by device and inode) among all its callers; the
// databases requested must then be the same. LmdbEnv is thread-safe; an LmdbTxn belongs to one
// thread at a time. Write transactions are serialized by LMDB itself. Errors: "lmdb <op> '<dir>':
// <mdb_strerror>"; MDB_MAP_FULL maps to ResourceExhausted, corruption to DataLoss, the rest to
// Internal.
#ifndef KILN_CACHE_LMDB_ENV_H_
#define KILN_CACHE_LMDB_ENV_H_

#include <lmdb.h>

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace kiln::cache::internal {

absl::Status LmdbError(int rc, std::string_view what);

class LmdbEnv {
 public:
  struct Options {
    size_t map_size = size_t{1} << 30;  // virtual reservation; the file grows as needed
    unsigned max_readers = 1022;
    std::vector<std::string> databases;  // named databases, created if missing
    // false: MDB_NOSYNC (no fsync at commit; a system crash may lose or corrupt recent
    // commits). Only for bulk loads and benchmarks.
    bool durable = true;
  };

  // Opens (creating `dir` if needed) the environment and its named databases, or returns
  // the live instance for the same directory. FailedPrecondition if that instance was opened
  // with other databases.
  static absl::StatusOr<std::shared_ptr<LmdbEnv>> Open(const std::string& dir,
                                                       const Options& options);
  ~LmdbEnv();
  LmdbEnv(const LmdbEnv&) = delete;
  LmdbEnv& operator=(const LmdbEnv&) = delete;

  MDB_env* raw() const { return env_; }
  // Handle of the i-th database named in Options::databases.
  MDB_dbi dbi(size_t i) const { return dbis_[i]; }
  const std::string& dir() const { return dir_; }

 private:
  LmdbEnv(MDB_env* env, std::string dir) : env_(env), dir_(std::move(dir)) {}
  static absl::StatusOr<std::shared_ptr<LmdbEnv>> OpenNew(const std::string& dir,
                                                          const Options& options);

  MDB_env* env_;
  std::string dir_;
  std::vector<std::string> names_;
  std::vector<MDB_dbi> dbis_;
};

class LmdbTxn {
 public:
  static absl::StatusOr<LmdbTxn> Begin(const LmdbEnv& env, bool write);
  LmdbTxn(LmdbTxn&& other) noexcept : txn_(other.txn_), env_(other.env_) { other.txn_ = nullptr; }
  LmdbTxn& operator=(LmdbTxn&& other) noexcept;
  LmdbTxn(const LmdbTxn&) = delete;
  LmdbTxn& operator=(const LmdbTxn&) = delete;
  ~LmdbTxn();  // aborts if neither committed nor aborted

  // The value for `key`, or nullopt. The view stays valid until the transaction ends.
  absl::StatusOr<std::optional<std::string_view>> Get(MDB_dbi dbi, std::string_view key);
  absl::Status Put(MDB_dbi dbi, std::string_view key, std::string_view value);
  // Returns whether the key existed.
  absl::StatusOr<bool> Del(MDB_dbi dbi, std::string_view key);
  // Calls fn(key, value) in key order until it returns false.
  absl::Status ForEach(MDB_dbi dbi,
                       const std::function<bool(std::string_view, std::string_view)>& fn);
  absl::Status Commit();
  void Abort();
  MDB_txn* raw() const { return txn_; }

 private:
  LmdbTxn(MDB_txn* txn, const LmdbEnv* env) : txn_(txn), env_(env) {}
  MDB_txn* txn_;
  const LmdbEnv* env_;
};

}  // namespace kiln::cache::internal

#endif  // KILN_CACHE_LMDB_ENV_H_
