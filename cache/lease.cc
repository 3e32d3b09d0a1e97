#include "cache/lease.h"

#include "absl/strings/str_cat.h"

namespace kiln::cache {

Lease& Lease::operator=(Lease&& other) noexcept {
  if (this != &other) {
    Release();
    manager_ = std::exchange(other.manager_, nullptr);
    holds_ = std::move(other.holds_);
  }
  return *this;
}

absl::Status Lease::HoldSnapshot(const std::string& key) { return Hold(LeaseKind::kSnapshot, key); }

absl::Status Lease::HoldBlob(const base::Digest& digest) {
  return Hold(LeaseKind::kBlob, digest.str());
}

absl::Status Lease::Hold(LeaseKind kind, std::string id) {
  if (manager_ == nullptr) {
    return absl::FailedPreconditionError(absl::StrCat("hold '", id, "': lease is released"));
  }
  LeaseManager::Item item(kind, std::move(id));
  absl::Status st = manager_->Acquire(item);
  if (st.ok()) holds_.push_back(std::move(item));
  return st;
}

void Lease::Release() {
  if (manager_ == nullptr) return;
  for (const auto& item : holds_) manager_->ReleaseOne(item);
  holds_.clear();
  manager_ = nullptr;
}

LeaseManager::RemovalGuard::~RemovalGuard() {
  if (manager_ == nullptr) return;
  absl::MutexLock lock(&manager_->mu_);
  manager_->removing_.erase(item_);
}

LeaseManager::RemovalGuard& LeaseManager::RemovalGuard::operator=(RemovalGuard&& o) noexcept {
  if (this != &o) {
    if (manager_ != nullptr) {
      absl::MutexLock lock(&manager_->mu_);
      manager_->removing_.erase(item_);
    }
    manager_ = std::exchange(o.manager_, nullptr);
    item_ = std::move(o.item_);
  }
  return *this;
}

absl::Status LeaseManager::Acquire(const Item& item) {
  absl::MutexLock lock(&mu_);
  if (removing_.contains(item)) {
    return absl::AbortedError(absl::StrCat("hold '", item.second, "': being garbage-collected"));
  }
  ++counts_[item];
  return absl::OkStatus();
}

void LeaseManager::ReleaseOne(const Item& item) {
  absl::MutexLock lock(&mu_);
  auto it = counts_.find(item);
  if (it == counts_.end()) return;
  if (--it->second <= 0) counts_.erase(it);
}

int64_t LeaseManager::Count(LeaseKind kind, const std::string& id) const {
  absl::MutexLock lock(&mu_);
  auto it = counts_.find(Item(kind, id));
  return it == counts_.end() ? 0 : it->second;
}

std::vector<std::pair<LeaseManager::Item, int64_t>> LeaseManager::Holds() const {
  absl::MutexLock lock(&mu_);
  return {counts_.begin(), counts_.end()};
}

std::optional<LeaseManager::RemovalGuard> LeaseManager::TryBeginRemoval(LeaseKind kind,
                                                                        const std::string& id) {
  absl::MutexLock lock(&mu_);
  Item item(kind, id);
  if (counts_.contains(item) || removing_.contains(item)) return std::nullopt;
  removing_.insert(item);
  return RemovalGuard(this, std::move(item));
}

}  // namespace kiln::cache
