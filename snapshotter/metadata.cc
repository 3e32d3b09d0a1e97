#include "snapshotter/metadata.h"

#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/status.h"
#include "nlohmann/json.hpp"

namespace kiln::snapshotter {
namespace {

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

// The databases of the environment, in the order base::LmdbEnv::dbi takes.
constexpr size_t kSnapshotsDb = 0;
constexpr size_t kCountersDb = 1;

absl::StatusOr<std::unique_ptr<MetadataStore>> MetadataStore::Open(const std::string& path,
                                                                   const Options& options) {
  std::unique_ptr<MetadataStore> store(new MetadataStore());
  store->path_ = path;
  // The file format is LMDB's and the record encoding is this store's (JSON), as before the
  // shared wrapper: files made by earlier versions open unchanged.
  base::LmdbEnv::Options env_options;
  env_options.map_size = options.map_size;
  env_options.databases = {"snapshots", "counters"};
  env_options.durable = options.sync;
  env_options.lazy_meta_sync = false;
  env_options.single_file = true;
  env_options.file_mode = 0600;
  KILN_ASSIGN_OR_RETURN(store->env_, base::LmdbEnv::Open(path, env_options));
  return store;
}

absl::StatusOr<MetadataStore::Txn> MetadataStore::Begin(bool writable) {
  KILN_ASSIGN_OR_RETURN(base::LmdbTxn txn, base::LmdbTxn::Begin(*env_, writable));
  return Txn(this, std::move(txn));
}

absl::Status MetadataStore::Sync() { return env_->Sync(); }

absl::StatusOr<std::optional<SnapshotRecord>> MetadataStore::Txn::Get(std::string_view key) {
  KILN_ASSIGN_OR_RETURN(std::optional<std::string_view> bytes,
                        txn_.Get(store_->env_->dbi(kSnapshotsDb), key));
  if (!bytes.has_value()) return std::optional<SnapshotRecord>();
  KILN_ASSIGN_OR_RETURN(SnapshotRecord r, internal::DecodeRecord(key, *bytes));
  return std::optional<SnapshotRecord>(std::move(r));
}

absl::Status MetadataStore::Txn::Put(const SnapshotRecord& record) {
  if (record.info.name.empty() || record.info.name.size() > 511) {
    return absl::InvalidArgumentError(absl::StrCat(
        "put snapshot record: key must be 1..511 bytes, got ", record.info.name.size()));
  }
  return txn_.Put(store_->env_->dbi(kSnapshotsDb), record.info.name,
                  internal::EncodeRecord(record));
}

absl::Status MetadataStore::Txn::Delete(std::string_view key) {
  KILN_ASSIGN_OR_RETURN(bool existed, txn_.Del(store_->env_->dbi(kSnapshotsDb), key));
  if (!existed) {
    return absl::NotFoundError(absl::StrCat("delete '", base::AsAbsl(key), "' from '",
                                            store_->path_, "': no such record"));
  }
  return absl::OkStatus();
}

absl::Status MetadataStore::Txn::ForEach(
    const std::function<absl::Status(const SnapshotRecord&)>& fn) {
  absl::Status status;
  KILN_RETURN_IF_ERROR(
      txn_.ForEach(store_->env_->dbi(kSnapshotsDb), [&](std::string_view k, std::string_view v) {
        absl::StatusOr<SnapshotRecord> r = internal::DecodeRecord(k, v);
        status = r.ok() ? fn(*r) : r.status();
        return status.ok();
      }));
  return status;
}

absl::StatusOr<uint64_t> MetadataStore::Txn::GetCounter(std::string_view name) {
  KILN_ASSIGN_OR_RETURN(std::optional<std::string_view> bytes,
                        txn_.Get(store_->env_->dbi(kCountersDb), name));
  if (!bytes.has_value()) return uint64_t{0};
  if (bytes->size() != sizeof(uint64_t)) {
    return absl::DataLossError(absl::StrCat("counter '", base::AsAbsl(name), "' in '",
                                            store_->path_, "' has ", bytes->size(), " bytes"));
  }
  uint64_t out = 0;
  std::memcpy(&out, bytes->data(), sizeof out);
  return out;
}

absl::Status MetadataStore::Txn::SetCounter(std::string_view name, uint64_t value) {
  // Native byte order, as the store always wrote it.
  return txn_.Put(store_->env_->dbi(kCountersDb), name,
                  std::string_view(reinterpret_cast<const char*>(&value), sizeof value));
}

absl::Status MetadataStore::Txn::Commit() { return txn_.Commit(); }

}  // namespace kiln::snapshotter
