#include "base/lmdb.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <map>
#include <tuple>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "base/fs.h"
#include "base/path.h"
#include "base/status.h"

namespace kiln::base {
namespace {

MDB_val ValOf(std::string_view s) {
  MDB_val v;
  v.mv_size = s.size();
  v.mv_data = const_cast<char*>(s.data());
  return v;
}

std::string_view ViewOf(const MDB_val& v) {
  return std::string_view(static_cast<const char*>(v.mv_data), v.mv_size);
}

}  // namespace

absl::Status LmdbError(int rc, std::string_view what) {
  if (rc > 0 && rc != EACCES) return ErrnoError(rc, what);
  std::string msg = absl::StrCat(AsAbsl(what), ": ", mdb_strerror(rc));
  switch (rc) {
    case MDB_MAP_FULL:
    case MDB_READERS_FULL:
    case MDB_TXN_FULL:
      return absl::ResourceExhaustedError(msg);
    case MDB_CORRUPTED:
    case MDB_PAGE_NOTFOUND:
    case MDB_INVALID:
    case MDB_VERSION_MISMATCH:
      return absl::DataLossError(msg);
    case EACCES:
      return absl::PermissionDeniedError(msg);
    default:
      return absl::InternalError(msg);
  }
}

absl::StatusOr<std::shared_ptr<LmdbEnv>> LmdbEnv::Open(const std::string& dir,
                                                       const Options& options) {
  std::string where = dir;
  std::string file;
  if (options.single_file) {
    auto [parent, name] = SplitDirBase(dir);
    where = parent.empty() ? "." : parent;
    file = name;
  } else {
    KILN_RETURN_IF_ERROR(MkdirAll(dir, 0777));  // less the umask
  }
  struct stat st;
  if (::stat(where.c_str(), &st) != 0) return ErrnoError(absl::StrCat("stat '", where, "'"));
  // The pid keeps a forked child from reusing its parent's environment (LMDB forbids that).
  using Id = std::tuple<pid_t, uint64_t, uint64_t, std::string>;
  static absl::Mutex registry_mu(absl::kConstInit);
  static auto* registry = new std::map<Id, std::weak_ptr<LmdbEnv>>();
  absl::MutexLock lock(&registry_mu);
  Id id(::getpid(), static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino), file);
  if (std::shared_ptr<LmdbEnv> live = (*registry)[id].lock()) {
    if (live->names_ != options.databases) {
      return absl::FailedPreconditionError(
          absl::StrCat("lmdb open '", dir, "': already open with other databases"));
    }
    return live;
  }
  KILN_ASSIGN_OR_RETURN(std::shared_ptr<LmdbEnv> env, OpenNew(dir, options));
  (*registry)[id] = env;
  return env;
}

absl::StatusOr<std::shared_ptr<LmdbEnv>> LmdbEnv::OpenNew(const std::string& dir,
                                                          const Options& options) {
  MDB_env* raw = nullptr;
  int rc = mdb_env_create(&raw);
  if (rc != 0) return LmdbError(rc, absl::StrCat("lmdb create '", dir, "'"));
  std::shared_ptr<LmdbEnv> env(new LmdbEnv(raw, dir));
  env->names_ = options.databases;
  // Growth: at least twice what the data file holds, in whole MiB.
  size_t map_size = options.map_size;
  struct stat data;
  std::string data_path = options.single_file ? dir : dir + "/data.mdb";
  if (::stat(data_path.c_str(), &data) == 0) {
    size_t want =
        (static_cast<size_t>(data.st_size) * 2 + (size_t{1} << 20) - 1) & ~((size_t{1} << 20) - 1);
    map_size = std::max(map_size, want);
  }
  rc = mdb_env_set_mapsize(raw, map_size);
  if (rc == 0) rc = mdb_env_set_maxreaders(raw, options.max_readers);
  if (rc == 0) rc = mdb_env_set_maxdbs(raw, static_cast<MDB_dbi>(options.databases.size() + 1));
  if (rc != 0) return LmdbError(rc, absl::StrCat("lmdb configure '", dir, "'"));
  unsigned flags = MDB_NOTLS | (options.durable ? 0u : unsigned{MDB_NOSYNC}) |
                   (options.lazy_meta_sync ? unsigned{MDB_NOMETASYNC} : 0u) |
                   (options.single_file ? unsigned{MDB_NOSUBDIR} : 0u);
  rc = mdb_env_open(raw, dir.c_str(), flags, options.file_mode);
  if (rc != 0) return LmdbError(rc, absl::StrCat("lmdb open '", dir, "'"));
  int dead = 0;
  (void)mdb_reader_check(raw, &dead);  // clears reader slots of crashed processes
  KILN_ASSIGN_OR_RETURN(LmdbTxn txn, LmdbTxn::Begin(*env, /*write=*/true));
  for (const std::string& name : options.databases) {
    MDB_dbi dbi = 0;
    rc = mdb_dbi_open(txn.raw(), name.c_str(), MDB_CREATE, &dbi);
    if (rc != 0) return LmdbError(rc, absl::StrCat("lmdb open db '", dir, "/", name, "'"));
    env->dbis_.push_back(dbi);
  }
  KILN_RETURN_IF_ERROR(txn.Commit());
  return env;
}

absl::Status LmdbEnv::Sync() {
  int rc = mdb_env_sync(env_, 1);
  if (rc != 0) return LmdbError(rc, absl::StrCat("lmdb sync '", dir_, "'"));
  return absl::OkStatus();
}

LmdbEnv::~LmdbEnv() {
  if (env_ != nullptr) mdb_env_close(env_);
}

absl::StatusOr<LmdbTxn> LmdbTxn::Begin(const LmdbEnv& env, bool write) {
  MDB_txn* txn = nullptr;
  int rc = mdb_txn_begin(env.raw(), nullptr, write ? 0 : MDB_RDONLY, &txn);
  if (rc != 0) return LmdbError(rc, absl::StrCat("lmdb begin txn '", env.dir(), "'"));
  return LmdbTxn(txn, &env);
}

LmdbTxn& LmdbTxn::operator=(LmdbTxn&& other) noexcept {
  if (this != &other) {
    Abort();
    txn_ = other.txn_;
    env_ = other.env_;
    other.txn_ = nullptr;
  }
  return *this;
}

LmdbTxn::~LmdbTxn() { Abort(); }

void LmdbTxn::Abort() {
  if (txn_ != nullptr) mdb_txn_abort(txn_);
  txn_ = nullptr;
}

absl::StatusOr<std::optional<std::string_view>> LmdbTxn::Get(MDB_dbi dbi, std::string_view key) {
  MDB_val k = ValOf(key);
  MDB_val v;
  int rc = mdb_get(txn_, dbi, &k, &v);
  if (rc == MDB_NOTFOUND) return std::optional<std::string_view>();
  if (rc != 0) return LmdbError(rc, absl::StrCat("lmdb get '", env_->dir(), "'"));
  return std::optional<std::string_view>(ViewOf(v));
}

absl::Status LmdbTxn::Put(MDB_dbi dbi, std::string_view key, std::string_view value) {
  MDB_val k = ValOf(key);
  MDB_val v = ValOf(value);
  int rc = mdb_put(txn_, dbi, &k, &v, 0);
  if (rc != 0) return LmdbError(rc, absl::StrCat("lmdb put '", env_->dir(), "'"));
  return absl::OkStatus();
}

absl::StatusOr<bool> LmdbTxn::Del(MDB_dbi dbi, std::string_view key) {
  MDB_val k = ValOf(key);
  int rc = mdb_del(txn_, dbi, &k, nullptr);
  if (rc == MDB_NOTFOUND) return false;
  if (rc != 0) return LmdbError(rc, absl::StrCat("lmdb del '", env_->dir(), "'"));
  return true;
}

absl::Status LmdbTxn::ForEach(MDB_dbi dbi,
                              const std::function<bool(std::string_view, std::string_view)>& fn) {
  MDB_cursor* cur = nullptr;
  int rc = mdb_cursor_open(txn_, dbi, &cur);
  if (rc != 0) return LmdbError(rc, absl::StrCat("lmdb cursor '", env_->dir(), "'"));
  MDB_val k, v;
  rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
  while (rc == 0) {
    if (!fn(ViewOf(k), ViewOf(v))) break;
    rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
  }
  mdb_cursor_close(cur);
  if (rc != 0 && rc != MDB_NOTFOUND) {
    return LmdbError(rc, absl::StrCat("lmdb iterate '", env_->dir(), "'"));
  }
  return absl::OkStatus();
}

absl::Status LmdbTxn::Commit() {
  if (txn_ == nullptr) return absl::FailedPreconditionError("lmdb commit: transaction is over");
  int rc = mdb_txn_commit(txn_);
  txn_ = nullptr;
  if (rc != 0) return LmdbError(rc, absl::StrCat("lmdb commit '", env_->dir(), "'"));
  return absl::OkStatus();
}

}  // namespace kiln::base
