#include "cache/checksum_cache.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <ctime>
#include <filesystem>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "base/status.h"
#include "base/thread_pool.h"
#include "base/unique_fd.h"
#include "cache/checksum_state.h"

namespace kiln::cache {
namespace {

using base::UniqueFd;
using internal::CachedFile;
using internal::ChecksumState;
using SharedFd = std::shared_ptr<const UniqueFd>;

constexpr int64_t kMaxQueued = 256;  // beyond this, work runs inline (bounds open fds)
constexpr size_t kReadChunk = 1 << 20;

struct Counters {
  std::atomic<int64_t> stated{0}, hashed{0}, bytes{0}, dirs{0};
};

char TypeOf(mode_t m) {
  if (S_ISREG(m)) return 'f';
  if (S_ISDIR(m)) return 'd';
  if (S_ISLNK(m)) return 'l';
  if (S_ISFIFO(m)) return 'p';
  if (S_ISSOCK(m)) return 's';
  if (S_ISCHR(m)) return 'c';
  return 'b';
}

void PutU32(std::string& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

void PutU64(std::string& out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

// Entry digest per the recipe in checksum_cache.h (one-shot XXH3-128, no hasher state).
// Without `ownership`, uid and gid are hashed as 0 (ChecksumCacheOptions::hash_ownership).
ChecksumEntry MakeEntry(std::string rel, const struct stat& st, base::Xxh128 content,
                        std::string_view link, bool ownership) {
  ChecksumEntry e;
  e.type = TypeOf(st.st_mode);
  thread_local std::string buf;
  buf.clear();
  PutU32(buf, static_cast<uint32_t>(rel.size()));
  buf += rel;
  buf.push_back(e.type);
  PutU32(buf, static_cast<uint32_t>(st.st_mode & 07777));
  PutU32(buf, ownership ? st.st_uid : 0);
  PutU32(buf, ownership ? st.st_gid : 0);
  if (e.type == 'f') {
    PutU64(buf, content.high);
    PutU64(buf, content.low);
    e.content = content;
  } else if (e.type == 'l') {
    PutU32(buf, static_cast<uint32_t>(link.size()));
    buf.append(link.data(), link.size());
  } else if (e.type == 'c' || e.type == 'b') {
    PutU64(buf, static_cast<uint64_t>(st.st_rdev));
  }
  e.digest = base::Xxh128Of(buf);
  e.path = std::move(rel);
  return e;
}

int64_t RealtimeNs() {
  struct timespec ts;
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

std::string Join(const std::string& dir, std::string_view name) {
  return dir == "." ? std::string(name) : absl::StrCat(dir, "/", base::AsAbsl(name));
}

// Lexical normalization of a selected path; "." for the root.
absl::StatusOr<std::string> Normalize(std::string_view p) {
  if (p.find('\0') != std::string_view::npos) {
    return absl::InvalidArgumentError("checksum: path contains a NUL byte");
  }
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (start <= p.size()) {
    size_t end = p.find('/', start);
    if (end == std::string_view::npos) end = p.size();
    std::string_view c = p.substr(start, end - start);
    if (c == "..") {
      if (!parts.empty()) parts.pop_back();
    } else if (!c.empty() && c != ".") {
      parts.push_back(c);
    }
    start = end + 1;
  }
  if (parts.empty()) return std::string(".");
  std::string out;
  for (std::string_view c : parts) {
    if (!out.empty()) out += '/';
    out.append(c.data(), c.size());
  }
  return out;
}

// One Checksum() call: walks the selection on the pool, collecting entries and new hashes.
class Pass {
 public:
  Pass(const ChecksumState& state, base::ThreadPool& pool, const ChecksumExcludeFn& exclude,
       absl::Duration racy_window, bool ownership, Counters& counters)
      : ownership_(ownership),
        state_(state),
        pool_(pool),
        exclude_(exclude),
        racy_ns_(absl::ToInt64Nanoseconds(racy_window)),
        counters_(counters) {}

  // Starts the walk of one normalized selection (runs partly on the calling thread).
  void AddTop(int root_fd, const std::string& rel);

  absl::Status status() {
    absl::MutexLock lock(&mu_);
    return error_;
  }
  std::vector<ChecksumEntry> TakeEntries() {
    absl::MutexLock lock(&mu_);
    return std::move(entries_);
  }
  std::vector<std::pair<std::string, CachedFile>> TakeUpdates() {
    absl::MutexLock lock(&mu_);
    return std::move(updates_);
  }

 private:
  void Spawn(std::function<void()> fn);
  void Fail(absl::Status st);
  bool failed() const { return failed_.load(std::memory_order_relaxed); }
  void Emit(std::vector<ChecksumEntry> batch);
  void Handle(const SharedFd& dir, const std::string& name, std::string rel, const struct stat& st,
              std::vector<ChecksumEntry>* out);
  void WalkDir(SharedFd parent, std::string name, std::string rel);
  void ReadDir(const SharedFd& dir, const std::string& rel);
  void HashFile(SharedFd dir, std::string name, std::string rel);

  const bool ownership_;
  const ChecksumState& state_;
  base::ThreadPool& pool_;
  const ChecksumExcludeFn& exclude_;
  const int64_t racy_ns_;
  Counters& counters_;
  std::atomic<int64_t> queued_{0};
  std::atomic<bool> failed_{false};
  absl::Mutex mu_;
  absl::Status error_ ABSL_GUARDED_BY(mu_);
  std::vector<ChecksumEntry> entries_ ABSL_GUARDED_BY(mu_);
  std::vector<std::pair<std::string, CachedFile>> updates_ ABSL_GUARDED_BY(mu_);
};

void Pass::Spawn(std::function<void()> fn) {
  if (queued_.load(std::memory_order_relaxed) >= kMaxQueued) {
    fn();
    return;
  }
  queued_.fetch_add(1, std::memory_order_relaxed);
  pool_.Submit([this, fn = std::move(fn)] {
    queued_.fetch_sub(1, std::memory_order_relaxed);
    fn();
  });
}

void Pass::Fail(absl::Status st) {
  absl::MutexLock lock(&mu_);
  if (error_.ok()) error_ = std::move(st);
  failed_.store(true, std::memory_order_relaxed);
}

void Pass::Emit(std::vector<ChecksumEntry> batch) {
  if (batch.empty()) return;
  absl::MutexLock lock(&mu_);
  if (entries_.empty()) {
    entries_ = std::move(batch);
  } else {
    for (ChecksumEntry& e : batch) entries_.push_back(std::move(e));
  }
}

void Pass::AddTop(int root_fd, const std::string& rel) {
  if (rel == ".") {
    UniqueFd fd(::openat(root_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    struct stat st;
    if (!fd || ::fstat(fd.get(), &st) != 0) return Fail(base::ErrnoError("checksum '.'"));
    Emit({MakeEntry(".", st, {}, {}, ownership_)});
    SharedFd dir = std::make_shared<const UniqueFd>(std::move(fd));
    return ReadDir(dir, ".");
  }
  size_t slash = rel.rfind('/');
  std::string parent = slash == std::string::npos ? "." : rel.substr(0, slash);
  std::string name = slash == std::string::npos ? rel : rel.substr(slash + 1);
  struct open_how how = {};
  how.flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC;
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  UniqueFd pfd(
      static_cast<int>(::syscall(SYS_openat2, root_fd, parent.c_str(), &how, sizeof(how))));
  if (!pfd && errno == ENOENT) {
    return Fail(
        absl::NotFoundError(absl::StrCat("checksum '", rel, "': no such file or directory")));
  }
  if (!pfd) return Fail(base::ErrnoError(absl::StrCat("checksum '", rel, "': open parent")));
  struct stat st;
  if (::fstatat(pfd.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno == ENOENT) {
      return Fail(
          absl::NotFoundError(absl::StrCat("checksum '", rel, "': no such file or directory")));
    }
    return Fail(base::ErrnoError(absl::StrCat("checksum '", rel, "'")));
  }
  counters_.stated.fetch_add(1, std::memory_order_relaxed);
  if (exclude_ && exclude_(rel, S_ISDIR(st.st_mode))) {
    return Fail(
        absl::NotFoundError(absl::StrCat("checksum '", rel, "': excluded from the context")));
  }
  std::vector<ChecksumEntry> out;
  Handle(std::make_shared<const UniqueFd>(std::move(pfd)), name, rel, st, &out);
  Emit(std::move(out));
}

void Pass::Handle(const SharedFd& dir, const std::string& name, std::string rel,
                  const struct stat& st, std::vector<ChecksumEntry>* out) {
  if (S_ISDIR(st.st_mode)) {
    out->push_back(MakeEntry(rel, st, {}, {}, ownership_));
    Spawn([this, dir, name, rel = std::move(rel)]() mutable {
      WalkDir(std::move(dir), std::move(name), std::move(rel));
    });
  } else if (S_ISLNK(st.st_mode)) {
    char buf[4096];
    ssize_t n = ::readlinkat(dir->get(), name.c_str(), buf, sizeof(buf));
    if (n < 0) return Fail(base::ErrnoError(absl::StrCat("checksum '", rel, "': readlink")));
    out->push_back(MakeEntry(std::move(rel), st, {}, std::string_view(buf, static_cast<size_t>(n)),
                             ownership_));
  } else if (S_ISREG(st.st_mode)) {
    auto it = state_.find(rel);
    if (it != state_.end() && !it->second.racy && it->second.Matches(st)) {
      out->push_back(MakeEntry(std::move(rel), st, it->second.hash, {}, ownership_));
      return;
    }
    Spawn([this, dir, name, rel = std::move(rel)]() mutable {
      HashFile(std::move(dir), std::move(name), std::move(rel));
    });
  } else {
    out->push_back(MakeEntry(std::move(rel), st, {}, {}, ownership_));
  }
}

void Pass::WalkDir(SharedFd parent, std::string name, std::string rel) {
  if (failed()) return;
  UniqueFd fd(
      ::openat(parent->get(), name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd) return Fail(base::ErrnoError(absl::StrCat("checksum '", rel, "': open dir")));
  parent.reset();
  ReadDir(std::make_shared<const UniqueFd>(std::move(fd)), rel);
}

void Pass::ReadDir(const SharedFd& dir, const std::string& rel) {
  counters_.dirs.fetch_add(1, std::memory_order_relaxed);
  int dup_fd = ::openat(dir->get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  DIR* d = dup_fd < 0 ? nullptr : ::fdopendir(dup_fd);
  if (d == nullptr) {
    if (dup_fd >= 0) ::close(dup_fd);
    return Fail(base::ErrnoError(absl::StrCat("checksum '", rel, "': read dir")));
  }
  std::vector<ChecksumEntry> out;
  while (dirent* ent = ::readdir(d)) {
    std::string_view n = ent->d_name;
    if (n == "." || n == "..") continue;
    std::string name(n);
    std::string child = Join(rel, name);
    struct stat st;
    if (::fstatat(dir->get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      Fail(base::ErrnoError(absl::StrCat("checksum '", child, "'")));
      break;
    }
    counters_.stated.fetch_add(1, std::memory_order_relaxed);
    if (exclude_ && exclude_(child, S_ISDIR(st.st_mode))) continue;
    Handle(dir, name, std::move(child), st, &out);
  }
  ::closedir(d);
  Emit(std::move(out));
}

void Pass::HashFile(SharedFd dir, std::string name, std::string rel) {
  if (failed()) return;
  UniqueFd fd(::openat(dir->get(), name.c_str(), O_RDONLY | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC));
  if (!fd) return Fail(base::ErrnoError(absl::StrCat("checksum '", rel, "': open")));
  struct stat before, after;
  if (::fstat(fd.get(), &before) != 0)
    return Fail(base::ErrnoError(absl::StrCat("checksum '", rel, "'")));
  if (!S_ISREG(before.st_mode)) {
    return Fail(absl::AbortedError(absl::StrCat("checksum '", rel, "': changed during the walk")));
  }
  int64_t hashed_at = RealtimeNs();
  thread_local std::string buf(kReadChunk, '\0');
  base::Xxh128Hasher h;
  int64_t total = 0;
  for (;;) {
    ssize_t n = ::read(fd.get(), buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Fail(base::ErrnoError(absl::StrCat("checksum '", rel, "': read")));
    if (n == 0) break;
    h.Update(buf.data(), static_cast<size_t>(n));
    total += n;
  }
  base::Xxh128 content = h.Finish();
  if (::fstat(fd.get(), &after) != 0)
    return Fail(base::ErrnoError(absl::StrCat("checksum '", rel, "'")));
  counters_.hashed.fetch_add(1, std::memory_order_relaxed);
  counters_.bytes.fetch_add(total, std::memory_order_relaxed);
  CachedFile rec = CachedFile::FromStat(before, content, false);
  bool changed_meanwhile = !rec.Matches(after) || total != before.st_size;
  int64_t newest = std::max(rec.mtime_ns, rec.ctime_ns);
  rec.racy = changed_meanwhile || newest > hashed_at - racy_ns_;
  ChecksumEntry entry = MakeEntry(rel, before, content, {}, ownership_);
  absl::MutexLock lock(&mu_);
  entries_.push_back(std::move(entry));
  updates_.emplace_back(std::move(rel), rec);
}

class ChecksumCacheImpl final : public ChecksumCache {
 public:
  ChecksumCacheImpl(std::string path, ChecksumState state, const ChecksumCacheOptions& options)
      : path_(std::move(path)),
        options_(options),
        pool_(options.threads),
        state_(std::move(state)) {}

  absl::StatusOr<ChecksumResult> Checksum(int root_fd, const std::vector<std::string>& paths,
                                          const ChecksumExcludeFn& exclude) override;
  absl::Status Save() override;
  ChecksumStats stats() const override {
    return ChecksumStats{counters_.stated.load(), counters_.hashed.load(), counters_.bytes.load(),
                         counters_.dirs.load()};
  }
  void ResetStats() override {
    counters_.stated = 0;
    counters_.hashed = 0;
    counters_.bytes = 0;
    counters_.dirs = 0;
  }
  size_t cached_files() const override {
    absl::MutexLock lock(&mu_);
    return state_.size();
  }

 private:
  void Apply(Pass& pass, bool prune, const std::vector<ChecksumEntry>& entries)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::string path_;
  const ChecksumCacheOptions options_;
  base::ThreadPool pool_;
  Counters counters_;
  mutable absl::Mutex mu_;  // held for a whole pass: passes are serialized
  ChecksumState state_ ABSL_GUARDED_BY(mu_);
  bool dirty_ ABSL_GUARDED_BY(mu_) = false;
};

absl::StatusOr<ChecksumResult> ChecksumCacheImpl::Checksum(int root_fd,
                                                           const std::vector<std::string>& paths,
                                                           const ChecksumExcludeFn& exclude) {
  std::vector<std::string> rels;
  for (const std::string& p : paths) {
    KILN_ASSIGN_OR_RETURN(std::string rel, Normalize(p));
    rels.push_back(std::move(rel));
  }
  std::sort(rels.begin(), rels.end());
  rels.erase(std::unique(rels.begin(), rels.end()), rels.end());
  bool has_root = std::find(rels.begin(), rels.end(), ".") != rels.end();
  if (has_root) rels = {"."};  // the root covers everything else
  absl::MutexLock lock(&mu_);
  Pass pass(state_, pool_, exclude, options_.racy_window, options_.hash_ownership, counters_);
  for (const std::string& rel : rels) pass.AddTop(root_fd, rel);
  pool_.WaitIdle();
  KILN_RETURN_IF_ERROR(pass.status());
  ChecksumResult result;
  result.entries = pass.TakeEntries();
  std::sort(result.entries.begin(), result.entries.end(),
            [](const ChecksumEntry& a, const ChecksumEntry& b) { return a.path < b.path; });
  result.entries.erase(
      std::unique(result.entries.begin(), result.entries.end(),
                  [](const ChecksumEntry& a, const ChecksumEntry& b) { return a.path == b.path; }),
      result.entries.end());
  Apply(pass, has_root, result.entries);
  result.combined = CombineChecksumEntries(result.entries);
  return result;
}

void ChecksumCacheImpl::Apply(Pass& pass, bool prune, const std::vector<ChecksumEntry>& entries) {
  for (auto& [rel, rec] : pass.TakeUpdates()) {
    state_[rel] = rec;
    dirty_ = true;
  }
  if (!prune) return;
  absl::flat_hash_set<std::string_view> seen;
  for (const ChecksumEntry& e : entries) {
    if (e.type == 'f') seen.insert(e.path);
  }
  size_t before = state_.size();
  absl::erase_if(state_, [&](const auto& kv) { return !seen.contains(kv.first); });
  if (state_.size() != before) dirty_ = true;
}

absl::Status ChecksumCacheImpl::Save() {
  absl::MutexLock lock(&mu_);
  if (!dirty_) return absl::OkStatus();
  KILN_RETURN_IF_ERROR(internal::WriteFileAtomically(path_, internal::EncodeChecksumState(state_)));
  dirty_ = false;
  return absl::OkStatus();
}

}  // namespace

base::Xxh128 CombineChecksumEntries(const std::vector<ChecksumEntry>& entries) {
  std::string all;
  all.reserve(entries.size() * 16);
  for (const ChecksumEntry& e : entries) {
    PutU64(all, e.digest.high);
    PutU64(all, e.digest.low);
  }
  return base::Xxh128Of(all);
}

absl::StatusOr<std::unique_ptr<ChecksumCache>> ChecksumCache::Open(
    const std::string& state_path, const ChecksumCacheOptions& options) {
  std::filesystem::path parent = std::filesystem::path(state_path).parent_path();
  if (!parent.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(parent, ec);
    if (ec) return base::ErrnoError(ec.value(), absl::StrCat("mkdir '", parent.string(), "'"));
  }
  KILN_ASSIGN_OR_RETURN(std::optional<std::string> bytes, internal::ReadFileIfExists(state_path));
  ChecksumState state;
  if (bytes.has_value()) {
    absl::StatusOr<ChecksumState> decoded = internal::DecodeChecksumState(*bytes);
    if (decoded.ok()) state = std::move(*decoded);  // corrupt: start empty (it is a cache)
  }
  return std::unique_ptr<ChecksumCache>(
      new ChecksumCacheImpl(state_path, std::move(state), options));
}

}  // namespace kiln::cache
