// MetadataStore: the transactional record of every snapshot, kept in LMDB.
//
// One LMDB environment (base::LmdbEnv, a single file, MDB_NOSUBDIR) with two databases: "snapshots"
// maps a snapshot key to its record, and "counters" holds named uint64 counters (the next dir id).
// Every change a snapshotter makes to its state is one write transaction, so a process killed
// at any point leaves either the old or the new state, never a mix.
//
// Thread safety: a MetadataStore may be shared by threads. A Txn belongs to the thread that
// began it (LMDB rule for write transactions); LMDB serialises write transactions, so
// Begin(true) blocks while another thread holds one. Read transactions never block.
#ifndef KILN_SNAPSHOTTER_METADATA_H_
#define KILN_SNAPSHOTTER_METADATA_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "base/lmdb.h"
#include "snapshotter/snapshotter.h"

namespace kiln::snapshotter {

// What the store keeps per snapshot. `info.name` is the record's key.
struct SnapshotRecord {
  uint64_t id = 0;  // names the snapshot's directory; never reused
  Info info;
  bool flattened = false;  // committed only: has a merged copy of its whole chain
  uint32_t depth = 0;      // committed only: lower dirs its chain needs when used as a parent
  // Committed only: the layer dirs a child stacks, top-most first, relative to
  // <root>/snapshots (e.g. "12/fs"); depth == lowers.size().
  std::vector<std::string> lowers;
  uint32_t children = 0;  // snapshots whose parent this is

  friend bool operator==(const SnapshotRecord&, const SnapshotRecord&) = default;
};

class MetadataStore {
 public:
  struct Options {
    // fsync on every commit (power-loss durable; LMDB flushes twice per commit). Without it
    // (MDB_NOSYNC) a killed process still loses nothing (the kernel has the pages), but a
    // machine crash before the next Sync() may lose or tear the file: the owner must then
    // not trust it (see LocalSnapshotter's session marker).
    bool sync = true;
    size_t map_size = size_t{1} << 30;  // upper bound of the file size
  };

  // Opens or creates the store file at `path`. Errors from LMDB carry its message.
  static absl::StatusOr<std::unique_ptr<MetadataStore>> Open(const std::string& path,
                                                             const Options& options);
  ~MetadataStore() = default;
  MetadataStore(const MetadataStore&) = delete;
  MetadataStore& operator=(const MetadataStore&) = delete;

  // A transaction; aborted on destruction unless committed. Move-only.
  class Txn {
   public:
    Txn(Txn&& o) noexcept = default;
    Txn& operator=(Txn&& o) noexcept = default;
    Txn(const Txn&) = delete;
    Txn& operator=(const Txn&) = delete;
    ~Txn() = default;

    // The record for `key`, or nullopt. DataLoss if the stored record cannot be decoded.
    absl::StatusOr<std::optional<SnapshotRecord>> Get(std::string_view key);
    // Inserts or replaces the record keyed by `record.info.name`. Write transactions only.
    absl::Status Put(const SnapshotRecord& record);
    // Deletes `key`. NotFound if absent.
    absl::Status Delete(std::string_view key);
    // Calls `fn` on every record in key order; stops at and returns the first error.
    absl::Status ForEach(const std::function<absl::Status(const SnapshotRecord&)>& fn);
    // Named counters (0 when never set).
    absl::StatusOr<uint64_t> GetCounter(std::string_view name);
    absl::Status SetCounter(std::string_view name, uint64_t value);
    // Makes the changes durable (per Options::sync) and ends the transaction.
    absl::Status Commit();

   private:
    friend class MetadataStore;
    Txn(MetadataStore* store, base::LmdbTxn txn) : store_(store), txn_(std::move(txn)) {}
    MetadataStore* store_ = nullptr;
    base::LmdbTxn txn_;
  };

  // Starts a read-only (`writable` false) or read-write transaction.
  absl::StatusOr<Txn> Begin(bool writable);

  // Flushes every committed transaction to the device (fdatasync). Errors carry errno.
  absl::Status Sync();

  const std::string& path() const { return path_; }

 private:
  MetadataStore() = default;
  std::string path_;
  std::shared_ptr<base::LmdbEnv> env_;
};

namespace internal {
// Record <-> bytes (JSON). Decode returns DataLoss on malformed input.
std::string EncodeRecord(const SnapshotRecord& record);
absl::StatusOr<SnapshotRecord> DecodeRecord(std::string_view key, std::string_view bytes);
}  // namespace internal

}  // namespace kiln::snapshotter

#endif  // KILN_SNAPSHOTTER_METADATA_H_
