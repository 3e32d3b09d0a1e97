#include "snapshotter/local_snapshotter.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <utility>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "base/fs.h"
#include "base/mount.h"
#include "base/status.h"
#include "snapshotter/session_marker.h"
#include "snapshotter/tree_copy.h"

namespace kiln::snapshotter {

std::string_view KindName(Kind kind) {
  switch (kind) {
    case Kind::kActive:
      return "active";
    case Kind::kView:
      return "view";
    case Kind::kCommitted:
      return "committed";
  }
  return "unknown";
}

namespace internal {
namespace {

constexpr std::string_view kNextIdCounter = "next_id";
constexpr uint64_t kIdBlock = 64;

absl::Status CheckKey(std::string_view what, std::string_view key) {
  if (key.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(base::AsAbsl(what), ": empty key"));
  }
  return absl::OkStatus();
}

absl::Status NotFound(std::string_view op, std::string_view key) {
  return absl::NotFoundError(
      absl::StrCat(base::AsAbsl(op), " '", base::AsAbsl(key), "': snapshot does not exist"));
}

}  // namespace

LocalSnapshotter::LocalSnapshotter(std::string root, LocalSnapshotterOptions options)
    : root_(std::move(root)), options_(std::move(options)) {}

LocalSnapshotter::~LocalSnapshotter() {
  if (meta_ != nullptr && options_.metadata_sync == MetadataSync::kOnClose) (void)MarkClosed();
}

std::string LocalSnapshotter::SnapshotDir(uint64_t id) const {
  return absl::StrCat(root_, "/snapshots/", id);
}

absl::Status LocalSnapshotter::Init() {
  KILN_RETURN_IF_ERROR(base::MkdirAll(root_, 0700));
  KILN_RETURN_IF_ERROR(base::MkdirAll(root_ + "/snapshots", 0700));
  std::string lock_path = root_ + "/lock";
  lock_fd_.reset(::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!lock_fd_) return base::ErrnoError(absl::StrCat("open '", lock_path, "'"));
  if (::flock(lock_fd_.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) {
      return absl::FailedPreconditionError(
          absl::StrCat("lock snapshotter root '", root_, "': in use by another snapshotter"));
    }
    return base::ErrnoError(absl::StrCat("lock '", lock_path, "'"));
  }
  KILN_RETURN_IF_ERROR(StartSession());
  MetadataStore::Options mo;
  mo.sync = options_.metadata_sync == MetadataSync::kEveryTransaction;
  KILN_ASSIGN_OR_RETURN(meta_, MetadataStore::Open(root_ + "/metadata.db", mo));
  KILN_RETURN_IF_ERROR(RecoverAll());
  // Per-transaction mode: flush what an earlier no-fsync session left, then mark it closed.
  if (options_.metadata_sync == MetadataSync::kEveryTransaction && contents_unflushed_) {
    KILN_RETURN_IF_ERROR(MarkClosed());
  }
  return absl::OkStatus();
}

absl::Status LocalSnapshotter::StartSession() {
  std::string boot = options_.boot_id;
  if (boot.empty()) {
    KILN_ASSIGN_OR_RETURN(boot, CurrentBootId());
  }
  KILN_ASSIGN_OR_RETURN(SessionState state, ReadSession(root_, boot));
  if (state == SessionState::kOpenEarlierBoot) KILN_RETURN_IF_ERROR(DiscardAll());
  contents_unflushed_ = state == SessionState::kOpenThisBoot;
  if (options_.metadata_sync == MetadataSync::kOnClose) {
    // Durable before the first unsynced write, so a crash from here on is recognised.
    KILN_RETURN_IF_ERROR(WriteSessionOpen(root_, boot));
  } else if (state == SessionState::kOpenEarlierBoot) {
    KILN_RETURN_IF_ERROR(WriteSessionClosed(root_));  // the root is empty now
  }
  return absl::OkStatus();
}

absl::Status LocalSnapshotter::DiscardAll() {
  KILN_ASSIGN_OR_RETURN(base::UniqueFd root, OpenDir(root_));
  for (const char* name : {"metadata.db", "metadata.db-lock"}) {
    KILN_RETURN_IF_ERROR(base::RemoveTreeAt(root.get(), name));
  }
  KILN_ASSIGN_OR_RETURN(base::UniqueFd dir, OpenDir(root_ + "/snapshots"));
  KILN_ASSIGN_OR_RETURN(std::vector<std::string> names,
                        base::ListDirNames(dir.get(), /*sorted=*/false, root_ + "/snapshots"));
  for (const std::string& name : names) KILN_RETURN_IF_ERROR(base::RemoveTreeAt(dir.get(), name));
  return absl::OkStatus();
}

absl::Status LocalSnapshotter::MarkClosed() {
  if (contents_unflushed_) {
    // Layer contents are written through mounts and applies without fsync: flush the whole
    // file system the root lives on before claiming that everything is on disk.
    if (::syncfs(lock_fd_.get()) != 0) {
      return base::ErrnoError(absl::StrCat("syncfs '", root_, "'"));
    }
  }
  KILN_RETURN_IF_ERROR(meta_->Sync());
  KILN_RETURN_IF_ERROR(WriteSessionClosed(root_));
  contents_unflushed_ = false;
  return absl::OkStatus();
}

// Deletes directories that have no record (interrupted Prepare/View or Remove), lets the
// implementation clean half-done commits, and repairs child counts.
absl::Status LocalSnapshotter::RecoverAll() {
  std::vector<SnapshotRecord> records;
  KILN_ASSIGN_OR_RETURN(MetadataStore::Txn txn, meta_->Begin(true));
  KILN_RETURN_IF_ERROR(txn.ForEach([&](const SnapshotRecord& r) {
    records.push_back(r);
    return absl::OkStatus();
  }));
  absl::flat_hash_map<uint64_t, SnapshotRecord> by_id;
  absl::flat_hash_map<std::string, uint32_t> children;
  for (SnapshotRecord& r : records) {
    if (options_.discard_uncommitted_on_open && r.info.kind != Kind::kCommitted) {
      KILN_RETURN_IF_ERROR(txn.Delete(r.info.name));  // its dir is now an orphan
      continue;
    }
    if (!r.info.parent.empty()) ++children[r.info.parent];
    uint64_t id = r.id;
    by_id.emplace(id, std::move(r));
  }
  KILN_ASSIGN_OR_RETURN(uint64_t next, txn.GetCounter(kNextIdCounter));
  for (auto& [id, r] : by_id) {
    next = std::max(next, id + 1);
    uint32_t want = children.contains(r.info.name) ? children[r.info.name] : 0;
    if (r.children != want) {
      r.children = want;
      KILN_RETURN_IF_ERROR(txn.Put(r));
    }
  }
  KILN_RETURN_IF_ERROR(txn.SetCounter(kNextIdCounter, next));
  KILN_RETURN_IF_ERROR(txn.Commit());
  {
    absl::MutexLock lock(&mu_);
    next_id_ = std::max<uint64_t>(next, 1);
  }
  KILN_ASSIGN_OR_RETURN(base::UniqueFd dir, OpenDir(root_ + "/snapshots"));
  KILN_ASSIGN_OR_RETURN(std::vector<std::string> names,
                        base::ListDirNames(dir.get(), /*sorted=*/false, root_ + "/snapshots"));
  std::vector<std::string> orphans;
  for (const std::string& name : names) {
    uint64_t id = 0;
    auto [end, ec] = std::from_chars(name.data(), name.data() + name.size(), id);
    if (ec != std::errc() || end != name.data() + name.size() || !by_id.contains(id)) {
      orphans.push_back(name);
    }
  }
  for (const std::string& name : orphans) KILN_RETURN_IF_ERROR(base::RemoveTreeAt(dir.get(), name));
  for (const auto& [id, r] : by_id) {
    // A record whose directory went (removed by hand, a damaged disk) must not keep the
    // daemon from starting: `kilnctl debug verify` reports it and --repair drops it.
    struct stat st;
    if (::fstatat(dir.get(), absl::StrCat(id).c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
    KILN_RETURN_IF_ERROR(RecoverLayer(r));
  }
  return absl::OkStatus();
}

absl::StatusOr<Info> LocalSnapshotter::Stat(std::string_view key) {
  KILN_RETURN_IF_ERROR(CheckKey("stat", key));
  KILN_ASSIGN_OR_RETURN(MetadataStore::Txn txn, meta_->Begin(false));
  KILN_ASSIGN_OR_RETURN(std::optional<SnapshotRecord> r, txn.Get(key));
  if (!r) return NotFound("stat", key);
  return r->info;
}

absl::StatusOr<DiskUsage> LocalSnapshotter::Usage(std::string_view key) {
  KILN_RETURN_IF_ERROR(CheckKey("usage", key));
  uint64_t id = 0;
  {
    KILN_ASSIGN_OR_RETURN(MetadataStore::Txn txn, meta_->Begin(false));
    KILN_ASSIGN_OR_RETURN(std::optional<SnapshotRecord> r, txn.Get(key));
    if (!r) return NotFound("usage", key);
    id = r->id;
  }
  KILN_ASSIGN_OR_RETURN(base::UniqueFd fd, OpenDir(SnapshotDir(id) + "/fs"));
  return TreeUsage(fd.get());
}

absl::Status LocalSnapshotter::RemoveSnapshotDir(uint64_t id) const {
  KILN_ASSIGN_OR_RETURN(base::UniqueFd dir, OpenDir(root_ + "/snapshots"));
  return base::RemoveTreeAt(dir.get(), absl::StrCat(id));
}

std::string LocalSnapshotter::SnapshotPath(std::string_view rel) const {
  return absl::StrCat(root_, "/snapshots/", base::AsAbsl(rel));
}

std::vector<std::string> LocalSnapshotter::StackOf(const SnapshotRecord& parent) const {
  std::vector<std::string> stack;
  stack.reserve(parent.lowers.size());
  for (const std::string& rel : parent.lowers) stack.push_back(SnapshotPath(rel));
  return stack;
}

absl::StatusOr<std::vector<base::Mount>> LocalSnapshotter::Mounts(std::string_view key) {
  KILN_RETURN_IF_ERROR(CheckKey("mounts", key));
  KILN_ASSIGN_OR_RETURN(MetadataStore::Txn txn, meta_->Begin(false));
  KILN_ASSIGN_OR_RETURN(std::optional<SnapshotRecord> r, txn.Get(key));
  if (!r) return NotFound("mounts", key);
  if (r->info.kind == Kind::kCommitted) {
    return absl::FailedPreconditionError(
        absl::StrCat("mounts '", base::AsAbsl(key), "': snapshot is committed, not active"));
  }
  std::vector<std::string> stack;
  if (!r->info.parent.empty()) {
    KILN_ASSIGN_OR_RETURN(std::optional<SnapshotRecord> p, txn.Get(r->info.parent));
    if (!p)
      return absl::DataLossError(absl::StrCat("mounts '", base::AsAbsl(key), "': parent '",
                                              r->info.parent, "' is missing"));
    stack = StackOf(*p);
  }
  return MountsFor(*r, stack);
}

absl::StatusOr<std::vector<base::Mount>> LocalSnapshotter::Prepare(std::string_view key,
                                                                   std::string_view parent,
                                                                   const Labels& labels) {
  return CreateSnapshot(Kind::kActive, key, parent, labels);
}

absl::StatusOr<std::vector<base::Mount>> LocalSnapshotter::View(std::string_view key,
                                                                std::string_view parent,
                                                                const Labels& labels) {
  return CreateSnapshot(Kind::kView, key, parent, labels);
}

void LocalSnapshotter::Release(std::string_view key, std::string_view pinned_parent) {
  absl::MutexLock lock(&mu_);
  busy_.erase(base::AsAbsl(key));
  if (!pinned_parent.empty()) {
    auto it = pins_.find(base::AsAbsl(pinned_parent));
    if (it != pins_.end() && --it->second == 0) pins_.erase(it);
  }
}

absl::StatusOr<std::vector<base::Mount>> LocalSnapshotter::CreateSnapshot(Kind kind,
                                                                          std::string_view key,
                                                                          std::string_view parent,
                                                                          const Labels& labels) {
  std::string_view op = kind == Kind::kView ? "view" : "prepare";
  KILN_RETURN_IF_ERROR(CheckKey(op, key));
  SnapshotRecord record;
  std::vector<std::string> stack;
  {
    absl::MutexLock lock(&mu_);
    KILN_ASSIGN_OR_RETURN(MetadataStore::Txn txn, meta_->Begin(false));
    KILN_ASSIGN_OR_RETURN(std::optional<SnapshotRecord> existing, txn.Get(key));
    if (existing || busy_.contains(base::AsAbsl(key))) {
      return absl::AlreadyExistsError(
          absl::StrCat(base::AsAbsl(op), " '", base::AsAbsl(key), "': snapshot already exists"));
    }
    if (!parent.empty()) {
      KILN_ASSIGN_OR_RETURN(std::optional<SnapshotRecord> p, txn.Get(parent));
      if (!p) return NotFound(absl::StrCat(base::AsAbsl(op), " on parent"), parent);
      if (p->info.kind != Kind::kCommitted) {
        return absl::InvalidArgumentError(absl::StrCat(base::AsAbsl(op), " '", base::AsAbsl(key),
                                                       "': parent '", base::AsAbsl(parent),
                                                       "' is not committed"));
      }
      stack = StackOf(*p);
      ++pins_[std::string(parent)];
    }
    busy_.emplace(std::string(key));
    record.id = next_id_++;
  }
  auto release = absl::MakeCleanup([&] { Release(key, parent); });
  absl::Time now = absl::Now();
  record.info = Info{kind, std::string(key), std::string(parent), labels, now, now};
  absl::Status s = CreateLayer(record.id, kind, stack);
  if (s.ok()) {
    Fault("prepare.dirs_created");
    s = InsertRecord(record);
  }
  if (!s.ok()) {
    (void)RemoveSnapshotDir(record.id);
    return s;
  }
  return MountsFor(record, stack);
}

absl::Status LocalSnapshotter::InsertRecord(const SnapshotRecord& record) {
  absl::MutexLock lock(&mu_);
  contents_unflushed_ = true;
  KILN_ASSIGN_OR_RETURN(MetadataStore::Txn txn, meta_->Begin(true));
  if (!record.info.parent.empty()) {
    KILN_ASSIGN_OR_RETURN(std::optional<SnapshotRecord> p, txn.Get(record.info.parent));
    if (!p) return NotFound("prepare on parent", record.info.parent);
    ++p->children;
    KILN_RETURN_IF_ERROR(txn.Put(*p));
  }
  KILN_RETURN_IF_ERROR(txn.Put(record));
  KILN_ASSIGN_OR_RETURN(uint64_t next, txn.GetCounter(kNextIdCounter));
  // Ids are persisted in blocks, so most transactions leave the counter page alone; Open
  // continues after the block (and after every id in use), so ids are never reused.
  if (next <= record.id) {
    KILN_RETURN_IF_ERROR(txn.SetCounter(kNextIdCounter, record.id + kIdBlock));
  }
  return txn.Commit();
}

absl::StatusOr<LocalSnapshotter::PendingCommit> LocalSnapshotter::ReserveCommit(
    std::string_view name, std::string_view key) {
  absl::MutexLock lock(&mu_);
  KILN_ASSIGN_OR_RETURN(MetadataStore::Txn txn, meta_->Begin(false));
  KILN_ASSIGN_OR_RETURN(std::optional<SnapshotRecord> r, txn.Get(key));
  if (!r) return NotFound("commit", key);
  bool busy = busy_.contains(base::AsAbsl(key));
  if (r->info.kind != Kind::kActive || busy) {
    return absl::FailedPreconditionError(absl::StrCat(
        "commit '", base::AsAbsl(key), "': snapshot is ", base::AsAbsl(KindName(r->info.kind)),
        busy ? " and busy" : "", ", not active"));
  }
  KILN_ASSIGN_OR_RETURN(std::optional<SnapshotRecord> taken, txn.Get(name));
  if (taken || busy_.contains(base::AsAbsl(name))) {
    return absl::AlreadyExistsError(absl::StrCat("commit '", base::AsAbsl(key), "' as '",
                                                 base::AsAbsl(name), "': name already exists"));
  }
  PendingCommit out;
  out.record = std::move(*r);
  out.record.depth = 1;
  if (!out.record.info.parent.empty()) {
    KILN_ASSIGN_OR_RETURN(std::optional<SnapshotRecord> p, txn.Get(out.record.info.parent));
    if (!p) return NotFound("commit on parent", out.record.info.parent);
    out.parent_stack = StackOf(*p);
    out.parent_lowers = p->lowers;
    out.record.depth = p->depth + 1;
  }
  busy_.emplace(std::string(key));
  busy_.emplace(std::string(name));
  return out;
}

absl::Status LocalSnapshotter::Commit(std::string_view name, std::string_view key,
                                      const Labels& labels) {
  KILN_RETURN_IF_ERROR(CheckKey("commit", key));
  KILN_RETURN_IF_ERROR(CheckKey("commit as", name));
  KILN_ASSIGN_OR_RETURN(PendingCommit pending, ReserveCommit(name, key));
  auto release = absl::MakeCleanup([&] {
    Release(key, "");
    Release(name, "");
  });
  SnapshotRecord& committed = pending.record;
  committed.info.name = std::string(name);
  committed.info.kind = Kind::kCommitted;
  committed.info.labels = labels;
  committed.info.updated = absl::Now();
  KILN_RETURN_IF_ERROR(PrepareCommit(committed, pending.parent_stack));
  committed.lowers = {StackDir(committed)};
  if (!committed.flattened) {
    committed.lowers.insert(committed.lowers.end(), pending.parent_lowers.begin(),
                            pending.parent_lowers.end());
  }
  committed.depth = static_cast<uint32_t>(committed.lowers.size());
  Fault("commit.before_txn");
  KILN_RETURN_IF_ERROR(FinishCommit(committed, key));
  Committed(committed);
  return absl::OkStatus();
}

absl::Status LocalSnapshotter::FinishCommit(const SnapshotRecord& committed, std::string_view key) {
  absl::MutexLock lock(&mu_);
  contents_unflushed_ = true;
  KILN_ASSIGN_OR_RETURN(MetadataStore::Txn txn, meta_->Begin(true));
  KILN_RETURN_IF_ERROR(txn.Delete(key));
  KILN_RETURN_IF_ERROR(txn.Put(committed));
  return txn.Commit();
}

absl::Status LocalSnapshotter::Remove(std::string_view key) {
  KILN_RETURN_IF_ERROR(CheckKey("remove", key));
  uint64_t id = 0;
  {
    absl::MutexLock lock(&mu_);
    KILN_ASSIGN_OR_RETURN(MetadataStore::Txn txn, meta_->Begin(true));
    KILN_ASSIGN_OR_RETURN(std::optional<SnapshotRecord> r, txn.Get(key));
    if (!r) return NotFound("remove", key);
    if (r->children > 0 || pins_.contains(base::AsAbsl(key)) || busy_.contains(base::AsAbsl(key))) {
      return absl::FailedPreconditionError(
          absl::StrCat("remove '", base::AsAbsl(key), "': snapshot has ", r->children, " children",
                       busy_.contains(base::AsAbsl(key)) ? " and is busy" : "",
                       pins_.contains(base::AsAbsl(key)) ? " and is being used as a parent" : ""));
    }
    KILN_RETURN_IF_ERROR(txn.Delete(key));
    if (!r->info.parent.empty()) {
      KILN_ASSIGN_OR_RETURN(std::optional<SnapshotRecord> p, txn.Get(r->info.parent));
      if (p) {
        p->children = p->children > 0 ? p->children - 1 : 0;
        KILN_RETURN_IF_ERROR(txn.Put(*p));
      }
    }
    KILN_RETURN_IF_ERROR(txn.Commit());
    id = r->id;
  }
  Fault("remove.record_deleted");
  // The record is gone; a directory left by a failure here is removed by the next Open.
  (void)RemoveSnapshotDir(id);
  return absl::OkStatus();
}

absl::Status LocalSnapshotter::Walk(const WalkFn& fn, const WalkFilter& filter) {
  std::vector<Info> infos;
  {
    KILN_ASSIGN_OR_RETURN(MetadataStore::Txn txn, meta_->Begin(false));
    KILN_RETURN_IF_ERROR(txn.ForEach([&](const SnapshotRecord& r) {
      if (!filter || filter(r.info)) infos.push_back(r.info);
      return absl::OkStatus();
    }));
  }
  for (const Info& info : infos) KILN_RETURN_IF_ERROR(fn(info));
  return absl::OkStatus();
}

}  // namespace internal
}  // namespace kiln::snapshotter
