#include "snapshotter/metadata.h"

#include <lmdb.h>

#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/status.h"
#include "nlohmann/json.hpp"

namespace kiln::snapshotter {
namespace {

absl::Status LmdbError(int rc, std::string_view what, std::string_view path) {
  std::string where = absl::StrCat(base::AsAbsl(what), " '", base::AsAbsl(path), "'");
  if (rc > 0) return base::ErrnoError(rc, where);
  std::string msg = absl::StrCat(where, ": ", mdb_strerror(rc));
  switch (rc) {
    case MDB_NOTFOUND:
      return absl::NotFoundError(msg);
    case MDB_MAP_FULL:
    case MDB_READERS_FULL:
    case MDB_TXN_FULL:
      return absl::ResourceExhaustedError(msg);
    case MDB_CORRUPTED:
    case MDB_INVALID:
    case MDB_VERSION_MISMATCH:
      return absl::DataLossError(msg);
    default:
      return absl::InternalError(msg);
  }
}

MDB_val Val(std::string_view s) { return MDB_val{s.size(), const_cast<char*>(s.data())}; }

std::string_view View(const MDB_val& v) {
  return std::string_view(static_cast<const char*>(v.mv_data), v.mv_size);
}

Kind KindFromName(std::string_view s, bool* ok) {
  *ok = true;
  if (s == "active") return Kind::kActive;
  if (s == "view") return Kind::kView;
  if (s == "committed") return Kind::kCommitted;
  *ok = false;
  return Kind::kActive;
}

}  // namespace

namespace internal {

std::string EncodeRecord(const SnapshotRecord& r) {
  nlohmann::json j;
  j["id"] = r.id;
  j["kind"] = std::string(KindName(r.info.kind));
  j["parent"] = r.info.parent;
  j["labels"] = r.info.labels;
  j["created"] = absl::ToUnixNanos(r.info.created);
  j["updated"] = absl::ToUnixNanos(r.info.updated);
  j["flattened"] = r.flattened;
  j["depth"] = r.depth;
  j["children"] = r.children;
  j["lowers"] = r.lowers;
  return j.dump();
}

absl::StatusOr<SnapshotRecord> DecodeRecord(std::string_view key, std::string_view bytes) {
  auto bad = [&](std::string_view why) {
    return absl::DataLossError(
        absl::StrCat("decode snapshot record '", base::AsAbsl(key), "': ", base::AsAbsl(why)));
  };
  // nlohmann throws on type mismatches; this adapter turns every throw into DataLoss.
  try {
    nlohmann::json j = nlohmann::json::parse(bytes.begin(), bytes.end(), nullptr, false);
    if (j.is_discarded() || !j.is_object()) return bad("not a JSON object");
    SnapshotRecord r;
    r.id = j.at("id").get<uint64_t>();
    bool kind_ok = false;
    r.info.kind = KindFromName(j.at("kind").get<std::string>(), &kind_ok);
    if (!kind_ok) return bad("unknown kind");
    r.info.name = std::string(key);
    r.info.parent = j.at("parent").get<std::string>();
    r.info.labels = j.at("labels").get<Labels>();
    r.info.created = absl::FromUnixNanos(j.at("created").get<int64_t>());
    r.info.updated = absl::FromUnixNanos(j.at("updated").get<int64_t>());
    r.flattened = j.at("flattened").get<bool>();
    r.depth = j.at("depth").get<uint32_t>();
    r.children = j.at("children").get<uint32_t>();
    r.lowers = j.at("lowers").get<std::vector<std::string>>();
    return r;
  } catch (const std::exception& e) {
    return bad(e.what());
  }
}

}  // namespace internal

absl::StatusOr<std::unique_ptr<MetadataStore>> MetadataStore::Open(const std::string& path,
                                                                   const Options& options) {
  std::unique_ptr<MetadataStore> store(new MetadataStore());
  store->path_ = path;
  int rc = mdb_env_create(&store->env_);
  if (rc != 0) return LmdbError(rc, "create lmdb env", path);
  if ((rc = mdb_env_set_maxdbs(store->env_, 4)) != 0) return LmdbError(rc, "set maxdbs", path);
  if ((rc = mdb_env_set_mapsize(store->env_, options.map_size)) != 0) {
    return LmdbError(rc, "set mapsize", path);
  }
  unsigned int flags = MDB_NOSUBDIR | MDB_NOTLS;
  if (!options.sync) flags |= MDB_NOSYNC;
  if ((rc = mdb_env_open(store->env_, path.c_str(), flags, 0600)) != 0) {
    return LmdbError(rc, "open lmdb", path);
  }
  KILN_ASSIGN_OR_RETURN(Txn txn, store->Begin(true));
  if ((rc = mdb_dbi_open(txn.txn_, "snapshots", MDB_CREATE, &store->snapshots_dbi_)) != 0) {
    return LmdbError(rc, "open db 'snapshots' in", path);
  }
  if ((rc = mdb_dbi_open(txn.txn_, "counters", MDB_CREATE, &store->counters_dbi_)) != 0) {
    return LmdbError(rc, "open db 'counters' in", path);
  }
  KILN_RETURN_IF_ERROR(txn.Commit());
  return store;
}

MetadataStore::~MetadataStore() {
  if (env_ != nullptr) mdb_env_close(env_);
}

absl::StatusOr<MetadataStore::Txn> MetadataStore::Begin(bool writable) {
  MDB_txn* txn = nullptr;
  int rc = mdb_txn_begin(env_, nullptr, writable ? 0 : MDB_RDONLY, &txn);
  if (rc != 0) return LmdbError(rc, "begin transaction on", path_);
  return Txn(this, txn);
}

absl::Status MetadataStore::Sync() {
  int rc = mdb_env_sync(env_, 1);
  if (rc != 0) return LmdbError(rc, "sync", path_);
  return absl::OkStatus();
}

MetadataStore::Txn::Txn(Txn&& o) noexcept
    : store_(o.store_), txn_(std::exchange(o.txn_, nullptr)) {}

MetadataStore::Txn& MetadataStore::Txn::operator=(Txn&& o) noexcept {
  if (this != &o) {
    if (txn_ != nullptr) mdb_txn_abort(txn_);
    store_ = o.store_;
    txn_ = std::exchange(o.txn_, nullptr);
  }
  return *this;
}

MetadataStore::Txn::~Txn() {
  if (txn_ != nullptr) mdb_txn_abort(txn_);
}

absl::StatusOr<std::optional<SnapshotRecord>> MetadataStore::Txn::Get(std::string_view key) {
  MDB_val k = Val(key);
  MDB_val v;
  int rc = mdb_get(txn_, store_->snapshots_dbi_, &k, &v);
  if (rc == MDB_NOTFOUND) return std::optional<SnapshotRecord>();
  if (rc != 0)
    return LmdbError(rc, absl::StrCat("get '", base::AsAbsl(key), "' from"), store_->path_);
  KILN_ASSIGN_OR_RETURN(SnapshotRecord r, internal::DecodeRecord(key, View(v)));
  return std::optional<SnapshotRecord>(std::move(r));
}

absl::Status MetadataStore::Txn::Put(const SnapshotRecord& record) {
  if (record.info.name.empty() || record.info.name.size() > 511) {
    return absl::InvalidArgumentError(absl::StrCat(
        "put snapshot record: key must be 1..511 bytes, got ", record.info.name.size()));
  }
  std::string bytes = internal::EncodeRecord(record);
  MDB_val k = Val(record.info.name);
  MDB_val v = Val(bytes);
  int rc = mdb_put(txn_, store_->snapshots_dbi_, &k, &v, 0);
  if (rc != 0) {
    return LmdbError(rc, absl::StrCat("put '", record.info.name, "' into"), store_->path_);
  }
  return absl::OkStatus();
}

absl::Status MetadataStore::Txn::Delete(std::string_view key) {
  MDB_val k = Val(key);
  int rc = mdb_del(txn_, store_->snapshots_dbi_, &k, nullptr);
  if (rc != 0) {
    return LmdbError(rc, absl::StrCat("delete '", base::AsAbsl(key), "' from"), store_->path_);
  }
  return absl::OkStatus();
}

absl::Status MetadataStore::Txn::ForEach(
    const std::function<absl::Status(const SnapshotRecord&)>& fn) {
  MDB_cursor* cursor = nullptr;
  int rc = mdb_cursor_open(txn_, store_->snapshots_dbi_, &cursor);
  if (rc != 0) return LmdbError(rc, "open cursor on", store_->path_);
  absl::Status status;
  MDB_val k, v;
  for (rc = mdb_cursor_get(cursor, &k, &v, MDB_FIRST); rc == 0 && status.ok();
       rc = mdb_cursor_get(cursor, &k, &v, MDB_NEXT)) {
    absl::StatusOr<SnapshotRecord> r = internal::DecodeRecord(View(k), View(v));
    status = r.ok() ? fn(*r) : r.status();
  }
  mdb_cursor_close(cursor);
  if (!status.ok()) return status;
  if (rc != MDB_NOTFOUND) return LmdbError(rc, "iterate", store_->path_);
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> MetadataStore::Txn::GetCounter(std::string_view name) {
  MDB_val k = Val(name);
  MDB_val v;
  int rc = mdb_get(txn_, store_->counters_dbi_, &k, &v);
  if (rc == MDB_NOTFOUND) return uint64_t{0};
  if (rc != 0) return LmdbError(rc, "get counter from", store_->path_);
  if (v.mv_size != sizeof(uint64_t)) {
    return absl::DataLossError(absl::StrCat("counter '", base::AsAbsl(name), "' in '",
                                            store_->path_, "' has ", v.mv_size, " bytes"));
  }
  uint64_t out = 0;
  std::memcpy(&out, v.mv_data, sizeof out);
  return out;
}

absl::Status MetadataStore::Txn::SetCounter(std::string_view name, uint64_t value) {
  MDB_val k = Val(name);
  MDB_val v{sizeof value, &value};
  int rc = mdb_put(txn_, store_->counters_dbi_, &k, &v, 0);
  if (rc != 0) return LmdbError(rc, "set counter in", store_->path_);
  return absl::OkStatus();
}

absl::Status MetadataStore::Txn::Commit() {
  MDB_txn* txn = std::exchange(txn_, nullptr);
  if (txn == nullptr) return absl::FailedPreconditionError("commit: transaction already ended");
  int rc = mdb_txn_commit(txn);
  if (rc != 0) return LmdbError(rc, "commit transaction on", store_->path_);
  return absl::OkStatus();
}

}  // namespace kiln::snapshotter
