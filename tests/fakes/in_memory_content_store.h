// InMemoryContentStore: a header-only ContentStore fake for tests (see cache/content_store.h).
//
// Same contract as FsContentStore and passes the same typed test suite: labels merge on Commit
// and SetLabels (a label set to "" is removed), a duplicate Commit returns the existing blob,
// Commit(expected) mismatch is DataLoss. OpenRead returns a memfd holding a copy of the bytes;
// PathOf returns "". CorruptForTest flips one stored byte so verify-paths can be tested.
// Thread-safe. Writers must not outlive the store.
#ifndef KILN_TESTS_FAKES_IN_MEMORY_CONTENT_STORE_H_
#define KILN_TESTS_FAKES_IN_MEMORY_CONTENT_STORE_H_

#include <sys/mman.h>
#include <unistd.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "base/digest.h"
#include "base/status.h"
#include "cache/content_store.h"

namespace kiln::fakes {

class InMemoryContentStore final : public cache::ContentStore {
 public:
  using Labels = std::map<std::string, std::string>;

  explicit InMemoryContentStore(std::function<absl::Time()> now = nullptr)
      : now_(now ? std::move(now) : [] { return absl::Now(); }) {}

  absl::StatusOr<std::unique_ptr<cache::ContentWriter>> Writer(std::string_view ref) override {
    return std::unique_ptr<cache::ContentWriter>(new MemWriter(this, std::string(ref)));
  }

  absl::StatusOr<cache::BlobInfo> Put(std::string_view bytes, Labels labels = {}) override {
    return Publish(std::string(bytes), base::Digest::Of(bytes), std::move(labels));
  }

  absl::StatusOr<cache::BlobInfo> Info(const base::Digest& d) override {
    absl::MutexLock lock(&mu_);
    auto it = blobs_.find(d);
    if (it == blobs_.end()) return NotFound("content info", d);
    return it->second.info;
  }

  bool Has(const base::Digest& d) override {
    absl::MutexLock lock(&mu_);
    return blobs_.contains(d);
  }

  absl::StatusOr<std::string> ReadAll(const base::Digest& d, bool verify = false) override {
    std::string bytes;
    {
      absl::MutexLock lock(&mu_);
      auto it = blobs_.find(d);
      if (it == blobs_.end()) return NotFound("read blob", d);
      bytes = it->second.bytes;
    }
    if (verify && base::Digest::Of(bytes) != d) {
      return absl::DataLossError(absl::StrCat("read blob '", d.str(), "': digest mismatch"));
    }
    return bytes;
  }

  absl::StatusOr<int> OpenRead(const base::Digest& d) override {
    absl::StatusOr<std::string> bytes = ReadAll(d, false);
    if (!bytes.ok()) return bytes.status();
    int fd = ::memfd_create("kiln-blob", MFD_CLOEXEC);
    if (fd < 0) return base::ErrnoError("memfd_create");
    size_t off = 0;
    while (off < bytes->size()) {
      ssize_t n = ::write(fd, bytes->data() + off, bytes->size() - off);
      if (n <= 0) {
        ::close(fd);
        return base::ErrnoError("write memfd");
      }
      off += static_cast<size_t>(n);
    }
    ::lseek(fd, 0, SEEK_SET);
    return fd;
  }

  std::string PathOf(const base::Digest&) override { return ""; }

  absl::Status SetLabels(const base::Digest& d, Labels labels) override {
    absl::MutexLock lock(&mu_);
    auto it = blobs_.find(d);
    if (it == blobs_.end()) return NotFound("set labels", d);
    Merge(&it->second.info.labels, std::move(labels));
    return absl::OkStatus();
  }

  absl::Status Touch(const base::Digest& d) override {
    absl::MutexLock lock(&mu_);
    auto it = blobs_.find(d);
    if (it == blobs_.end()) return NotFound("touch", d);
    it->second.info.last_used = now_();
    return absl::OkStatus();
  }

  absl::Status Delete(const base::Digest& d) override {
    absl::MutexLock lock(&mu_);
    if (blobs_.erase(d) == 0) return NotFound("delete blob", d);
    return absl::OkStatus();
  }

  absl::Status Walk(const std::function<void(const cache::BlobInfo&)>& fn) override {
    std::vector<cache::BlobInfo> infos;
    {
      absl::MutexLock lock(&mu_);
      for (const auto& [d, e] : blobs_) infos.push_back(e.info);
    }
    for (const cache::BlobInfo& info : infos) fn(info);
    return absl::OkStatus();
  }

  // Test hook: flips the first byte of a stored blob (an empty blob gets one byte appended).
  void CorruptForTest(const base::Digest& d) {
    absl::MutexLock lock(&mu_);
    auto it = blobs_.find(d);
    if (it == blobs_.end()) return;
    std::string& b = it->second.bytes;
    if (b.empty()) {
      b.push_back('x');
    } else {
      b[0] = static_cast<char>(b[0] ^ 0x5a);
    }
  }

 private:
  struct Entry {
    std::string bytes;
    cache::BlobInfo info;
  };

  class MemWriter final : public cache::ContentWriter {
   public:
    MemWriter(InMemoryContentStore* store, std::string ref) : store_(store), ref_(std::move(ref)) {}
    absl::Status Write(const void* data, size_t len) override {
      if (done_)
        return absl::FailedPreconditionError(absl::StrCat("write '", ref_, "': committed"));
      buf_.append(static_cast<const char*>(data), len);
      return absl::OkStatus();
    }
    int64_t Offset() const override { return static_cast<int64_t>(buf_.size()); }
    base::Digest CurrentDigest() override {
      return done_ ? base::Digest() : base::Digest::Of(buf_);
    }
    absl::StatusOr<cache::BlobInfo> Commit(const base::Digest& expected = {},
                                           Labels labels = {}) override {
      if (done_)
        return absl::FailedPreconditionError(absl::StrCat("commit '", ref_, "': committed"));
      done_ = true;
      base::Digest got = base::Digest::Of(buf_);
      if (!expected.empty() && expected != got) {
        return absl::DataLossError(absl::StrCat("commit '", ref_, "': digest mismatch: expected ",
                                                expected.str(), ", got ", got.str()));
      }
      return store_->Publish(std::move(buf_), got, std::move(labels));
    }

   private:
    InMemoryContentStore* store_;
    std::string ref_;
    std::string buf_;
    bool done_ = false;
  };

  static absl::Status NotFound(std::string_view op, const base::Digest& d) {
    return absl::NotFoundError(absl::StrCat(base::AsAbsl(op), " '", d.str(), "': not found"));
  }

  static void Merge(Labels* into, Labels from) {
    for (auto& [k, v] : from) {
      if (v.empty()) {
        into->erase(k);
      } else {
        (*into)[k] = std::move(v);
      }
    }
  }

  absl::StatusOr<cache::BlobInfo> Publish(std::string bytes, const base::Digest& d, Labels labels) {
    absl::Time now = now_();
    absl::MutexLock lock(&mu_);
    auto [it, inserted] = blobs_.try_emplace(d);
    Entry& e = it->second;
    if (inserted) {
      e.info.digest = d;
      e.info.size = static_cast<int64_t>(bytes.size());
      e.info.created_at = now;
      e.bytes = std::move(bytes);
    }
    e.info.last_used = now;
    Merge(&e.info.labels, std::move(labels));
    return e.info;
  }

  const std::function<absl::Time()> now_;
  absl::Mutex mu_;
  std::map<base::Digest, Entry> blobs_ ABSL_GUARDED_BY(mu_);
};

}  // namespace kiln::fakes

#endif  // KILN_TESTS_FAKES_IN_MEMORY_CONTENT_STORE_H_
