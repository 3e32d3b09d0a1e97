// The one LMDB wrapper: RAII over an environment, its named databases and transactions.
// It moves bytes only: every store keeps its own record encoding (the cache index its binary
// codec, the snapshotter's metadata JSON), so files written before this wrapper still open.
//
// LmdbEnv owns one MDB_env opened with MDB_NOTLS (read transactions are not bound to a
// thread, so pool threads may each hold one), by default MDB_NOMETASYNC (a system crash may
// undo the last commit, never corrupt the file; a process crash loses nothing). LMDB forbids
// opening the same environment twice in one process (closing one copy drops the other's
// locks), so Open shares one LmdbEnv per location (by device and inode of the directory, and
// the file name in single-file mode) among all its callers; the databases requested must then
// be the same. The map grows: Open reserves at least twice the current data file, so a store
// that hit MDB_MAP_FULL (ResourceExhausted) opens with room the next time.
//
// LmdbEnv is thread-safe; an LmdbTxn belongs to one thread at a time. Write transactions are
// serialized by LMDB itself. Errors: "lmdb <op> '<path>': <mdb_strerror>"; MDB_MAP_FULL,
// MDB_READERS_FULL and MDB_TXN_FULL map to ResourceExhausted, corruption to DataLoss, EACCES to
// PermissionDenied, other errno values as absl::ErrnoToStatus does, the rest to Internal.
#ifndef KILN_BASE_LMDB_H_
#define KILN_BASE_LMDB_H_

#include <lmdb.h>
#include <sys/types.h>

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace kiln::base {

absl::Status LmdbError(int rc, std::string_view what);

class LmdbEnv {
 public:
  struct Options {
    size_t map_size = size_t{1} << 30;  // virtual reservation; the file grows as needed
    unsigned max_readers = 1022;
    std::vector<std::string> databases;  // named databases, created if missing
    // false: MDB_NOSYNC (no fsync at commit; a system crash may lose or corrupt recent
    // commits). Only for bulk loads, benchmarks, and stores that Sync() themselves.
    bool durable = true;
    // false: MDB_NOMETASYNC is not set (the meta page is flushed too at every commit).
    bool lazy_meta_sync = true;
    // true: `path` is the data file itself (MDB_NOSUBDIR; the lock file is "<path>-lock") and
    // only its directory must exist. false: `path` is a directory, created if missing.
    bool single_file = false;
    mode_t file_mode = 0644;  // of the data and lock files, less the umask
  };

  // Opens (creating the directory if needed) the environment and its named databases, or
  // returns the live instance for the same location. FailedPrecondition if that instance was
  // opened with other databases.
  static absl::StatusOr<std::shared_ptr<LmdbEnv>> Open(const std::string& dir,
                                                       const Options& options);
  ~LmdbEnv();
  LmdbEnv(const LmdbEnv&) = delete;
  LmdbEnv& operator=(const LmdbEnv&) = delete;

  // Flushes every committed transaction to the device (for stores opened with !durable).
  absl::Status Sync();

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

}  // namespace kiln::base

#endif  // KILN_BASE_LMDB_H_
