// Leases: ref-counted holds on snapshots and blobs, so that GC never removes what a running
// build uses -- even when parallel stages share parents (holds are counted, not flags).
//
// Usage: a build (or stage) takes a Lease from the LeaseManager and adds holds to it; every
// hold is released when the Lease is destroyed (or Release()d). To close the race with GC,
// take the hold *before* trusting a cache hit, and check the item still exists afterwards:
// Hold fails with Aborted while GC is removing that item (the caller treats it as a miss).
// GC uses TryBeginRemoval, which fails while any lease holds the item; the returned guard
// blocks new holds until it is destroyed.
// LeaseManager is thread-safe and must outlive its Leases and guards. A Lease is a move-only
// value owned by one thread at a time.
#ifndef KILN_CACHE_LEASE_H_
#define KILN_CACHE_LEASE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "base/digest.h"

namespace kiln::cache {

enum class LeaseKind : uint8_t { kSnapshot, kBlob };

class LeaseManager;

class Lease {
 public:
  Lease() = default;
  ~Lease() { Release(); }
  Lease(Lease&& other) noexcept
      : manager_(std::exchange(other.manager_, nullptr)), holds_(std::move(other.holds_)) {}
  Lease& operator=(Lease&& other) noexcept;
  Lease(const Lease&) = delete;
  Lease& operator=(const Lease&) = delete;

  // Adds one hold. Aborted if GC is removing the item right now; FailedPrecondition on an
  // empty (default-constructed or released) lease.
  absl::Status HoldSnapshot(const std::string& key);
  absl::Status HoldBlob(const base::Digest& digest);
  // Drops every hold of this lease (idempotent).
  void Release();
  size_t holds() const { return holds_.size(); }

 private:
  friend class LeaseManager;
  explicit Lease(LeaseManager* manager) : manager_(manager) {}
  absl::Status Hold(LeaseKind kind, std::string id);

  LeaseManager* manager_ = nullptr;
  std::vector<std::pair<LeaseKind, std::string>> holds_;
};

class LeaseManager {
 public:
  using Item = std::pair<LeaseKind, std::string>;  // (kind, snapshot key or digest string)

  // Blocks new holds on an item while GC removes it; destroying it ends the removal.
  class RemovalGuard {
   public:
    RemovalGuard(RemovalGuard&& o) noexcept
        : manager_(std::exchange(o.manager_, nullptr)), item_(std::move(o.item_)) {}
    RemovalGuard& operator=(RemovalGuard&& o) noexcept;
    RemovalGuard(const RemovalGuard&) = delete;
    ~RemovalGuard();

   private:
    friend class LeaseManager;
    RemovalGuard(LeaseManager* m, Item item) : manager_(m), item_(std::move(item)) {}
    LeaseManager* manager_;
    Item item_;
  };

  LeaseManager() = default;
  LeaseManager(const LeaseManager&) = delete;
  LeaseManager& operator=(const LeaseManager&) = delete;

  Lease NewLease() { return Lease(this); }

  // Number of holds on an item across all leases.
  int64_t Count(LeaseKind kind, const std::string& id) const;
  bool IsHeld(LeaseKind kind, const std::string& id) const { return Count(kind, id) > 0; }
  bool IsSnapshotHeld(const std::string& key) const { return IsHeld(LeaseKind::kSnapshot, key); }
  bool IsBlobHeld(const base::Digest& d) const { return IsHeld(LeaseKind::kBlob, d.str()); }
  // Every held item with its count, in no particular order (for `debug verify`).
  std::vector<std::pair<Item, int64_t>> Holds() const;

  // nullopt if the item is held (or already being removed); otherwise a guard.
  std::optional<RemovalGuard> TryBeginRemoval(LeaseKind kind, const std::string& id);

 private:
  friend class Lease;
  absl::Status Acquire(const Item& item);
  void ReleaseOne(const Item& item);

  struct ItemHash {
    size_t operator()(const Item& i) const {
      return absl::HashOf(static_cast<int>(i.first), i.second);
    }
  };
  mutable absl::Mutex mu_;
  absl::flat_hash_map<Item, int64_t, ItemHash> counts_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_set<Item, ItemHash> removing_ ABSL_GUARDED_BY(mu_);
};

}  // namespace kiln::cache

#endif  // KILN_CACHE_LEASE_H_
