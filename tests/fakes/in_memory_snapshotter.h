// InMemorySnapshotter: a Snapshotter that keeps its metadata in memory, for tests of code
// that drives snapshotters (the solver, the engine) without root, mounts or namespaces.
//
// It follows the Snapshotter contract exactly (same error codes as the real ones; the typed
// suite in tests/snapshotter/ checks that). Usage is always {0 bytes, 1 inode}. Two modes:
//   - metadata only (default): mounts describe fake paths that must never be mounted:
//     {"bind", "/fake-snapshots/<id>", {"rbind"[, "ro"]}};
//   - with trees (a directory given): every snapshot also has a real tree, the directory
//     "<trees>/<id>", filled with a copy of its parent's tree when it is prepared or viewed
//     and removed with it; mounts describe {"bind", "<trees>/<id>", {"rbind"[, "ro"]}}, which
//     engine::DirTreeAccess opens without mounting and the differ compares directly.
// Thread-safe.
#ifndef KILN_TESTS_FAKES_IN_MEMORY_SNAPSHOTTER_H_
#define KILN_TESTS_FAKES_IN_MEMORY_SNAPSHOTTER_H_

#include <sys/stat.h>

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "base/status.h"
#include "base/temp_dir.h"
#include "base/unique_fd.h"
#include "snapshotter/snapshotter.h"
#include "snapshotter/tree_copy.h"

namespace kiln::snapshotter {

class InMemorySnapshotter : public Snapshotter {
 public:
  InMemorySnapshotter() = default;
  // With trees kept under `trees_dir` (an existing directory the caller owns, e.g. inside a
  // test's temp dir).
  explicit InMemorySnapshotter(std::string trees_dir) : trees_(std::move(trees_dir)) {}

  absl::StatusOr<Info> Stat(std::string_view key) override {
    absl::MutexLock lock(&mu_);
    if (key.empty()) return Empty("stat");
    auto it = entries_.find(std::string(key));
    if (it == entries_.end()) return Missing("stat", key);
    return it->second.info;
  }

  absl::StatusOr<DiskUsage> Usage(std::string_view key) override {
    absl::MutexLock lock(&mu_);
    if (key.empty()) return Empty("usage");
    if (!entries_.contains(std::string(key))) return Missing("usage", key);
    return DiskUsage{0, 1};
  }

  absl::StatusOr<std::vector<base::Mount>> Mounts(std::string_view key) override {
    absl::MutexLock lock(&mu_);
    if (key.empty()) return Empty("mounts");
    auto it = entries_.find(std::string(key));
    if (it == entries_.end()) return Missing("mounts", key);
    if (it->second.info.kind == Kind::kCommitted) {
      return absl::FailedPreconditionError(
          absl::StrCat("mounts '", std::string(key), "': snapshot is committed, not active"));
    }
    return MountsOf(it->second);
  }

  absl::StatusOr<std::vector<base::Mount>> Prepare(std::string_view key, std::string_view parent,
                                                   const Labels& labels = {}) override {
    return Create(Kind::kActive, key, parent, labels);
  }

  absl::StatusOr<std::vector<base::Mount>> View(std::string_view key, std::string_view parent,
                                                const Labels& labels = {}) override {
    return Create(Kind::kView, key, parent, labels);
  }

  absl::Status Commit(std::string_view name, std::string_view key,
                      const Labels& labels = {}) override {
    absl::MutexLock lock(&mu_);
    if (key.empty() || name.empty()) return Empty("commit");
    auto it = entries_.find(std::string(key));
    if (it == entries_.end()) return Missing("commit", key);
    if (it->second.info.kind != Kind::kActive) {
      return absl::FailedPreconditionError(
          absl::StrCat("commit '", std::string(key), "': snapshot is not active"));
    }
    if (entries_.contains(std::string(name))) {
      return absl::AlreadyExistsError(
          absl::StrCat("commit as '", std::string(name), "': name already exists"));
    }
    Entry e = std::move(it->second);
    entries_.erase(it);
    e.info.kind = Kind::kCommitted;
    e.info.name = std::string(name);
    e.info.labels = labels;
    e.info.updated = absl::Now();
    entries_.emplace(e.info.name, std::move(e));
    return absl::OkStatus();
  }

  absl::Status Remove(std::string_view key) override {
    absl::MutexLock lock(&mu_);
    if (key.empty()) return Empty("remove");
    auto it = entries_.find(std::string(key));
    if (it == entries_.end()) return Missing("remove", key);
    if (it->second.children > 0) {
      return absl::FailedPreconditionError(
          absl::StrCat("remove '", std::string(key), "': snapshot has children"));
    }
    if (!trees_.empty()) {
      absl::Status s = base::RemoveTree(TreeOf(it->second));
      if (!s.ok()) return s;
    }
    if (!it->second.info.parent.empty()) --entries_[it->second.info.parent].children;
    entries_.erase(it);
    return absl::OkStatus();
  }

  absl::Status Walk(const WalkFn& fn, const WalkFilter& filter = {}) override {
    std::vector<Info> infos;
    {
      absl::MutexLock lock(&mu_);
      for (const auto& [key, e] : entries_) {
        if (!filter || filter(e.info)) infos.push_back(e.info);
      }
    }
    for (const Info& info : infos) {
      absl::Status s = fn(info);
      if (!s.ok()) return s;
    }
    return absl::OkStatus();
  }

 private:
  struct Entry {
    uint64_t id = 0;
    Info info;
    int children = 0;
  };

  static absl::Status Empty(std::string_view op) {
    return absl::InvalidArgumentError(absl::StrCat(std::string(op), ": empty key"));
  }
  static absl::Status Missing(std::string_view op, std::string_view key) {
    return absl::NotFoundError(
        absl::StrCat(std::string(op), " '", std::string(key), "': snapshot does not exist"));
  }

  std::string TreeOf(const Entry& e) const { return absl::StrCat(trees_, "/", e.id); }

  // Makes the tree of new snapshot `e`: a copy of `parent`'s (none: empty).
  absl::Status MakeTree(const Entry& e, const Entry* parent) const {
    std::string dir = TreeOf(e);
    if (::mkdir(dir.c_str(), 0755) != 0) {
      return base::ErrnoError(absl::StrCat("create snapshot tree '", dir, "'"));
    }
    if (parent == nullptr) return absl::OkStatus();
    absl::StatusOr<base::UniqueFd> src = internal::OpenDir(TreeOf(*parent));
    if (!src.ok()) return src.status();
    absl::StatusOr<base::UniqueFd> dst = internal::OpenDir(dir);
    if (!dst.ok()) return dst.status();
    return internal::CopyTree(src->get(), dst->get(), {}).status();
  }

  std::vector<base::Mount> MountsOf(const Entry& e) const {
    base::Mount m{
        "bind", trees_.empty() ? absl::StrCat("/fake-snapshots/", e.id) : TreeOf(e), {"rbind"}};
    if (e.info.kind == Kind::kView) m.options.push_back("ro");
    return {m};
  }

  absl::StatusOr<std::vector<base::Mount>> Create(Kind kind, std::string_view key,
                                                  std::string_view parent, const Labels& labels) {
    absl::MutexLock lock(&mu_);
    if (key.empty()) return Empty(kind == Kind::kView ? "view" : "prepare");
    if (entries_.contains(std::string(key))) {
      return absl::AlreadyExistsError(
          absl::StrCat("prepare '", std::string(key), "': snapshot already exists"));
    }
    Entry* p = nullptr;
    if (!parent.empty()) {
      auto it = entries_.find(std::string(parent));
      if (it == entries_.end()) return Missing("prepare on parent", parent);
      if (it->second.info.kind != Kind::kCommitted) {
        return absl::InvalidArgumentError(
            absl::StrCat("prepare: parent '", std::string(parent), "' is not committed"));
      }
      p = &it->second;
    }
    absl::Time now = absl::Now();
    Entry e{next_id_++, Info{kind, std::string(key), std::string(parent), labels, now, now}, 0};
    if (!trees_.empty()) {
      absl::Status made = MakeTree(e, p);
      if (!made.ok()) {
        (void)base::RemoveTree(TreeOf(e));
        return made;
      }
    }
    if (p != nullptr) ++p->children;
    std::vector<base::Mount> mounts = MountsOf(e);
    entries_.emplace(std::string(key), std::move(e));
    return mounts;
  }

  const std::string trees_;  // "" = metadata only
  absl::Mutex mu_;
  std::map<std::string, Entry> entries_ ABSL_GUARDED_BY(mu_);
  uint64_t next_id_ ABSL_GUARDED_BY(mu_) = 1;
};

}  // namespace kiln::snapshotter

#endif  // KILN_TESTS_FAKES_IN_MEMORY_SNAPSHOTTER_H_
