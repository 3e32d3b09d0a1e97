#include "engine/copy/context_checksums.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <charconv>
#include <set>
#include <string_view>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "base/digest.h"
#include "base/status.h"
#include "cache/checksum_state.h"
#include "engine/copy/copy_selection.h"

namespace kiln::engine {
namespace {

// The memo file: a header line, then per entry "<key> <len>\n<content>\n", then a trailer line
// "end <n>" with the entry count, so a truncated file is rejected as a whole.
constexpr std::string_view kMemoHeader = "kiln-snapshot-copies v1\n";
constexpr size_t kMaxMemoEntries = 100'000;  // beyond this the memo starts over (it is a cache)

std::string MemoPath(const std::string& dir) { return dir + "/snapshot-copies"; }

std::string EncodeMemo(const absl::flat_hash_map<std::string, std::string>& memo) {
  std::string out(kMemoHeader);
  for (const auto& [key, content] : memo) {
    absl::StrAppend(&out, key, " ", content.size(), "\n", content, "\n");
  }
  absl::StrAppend(&out, "end ", memo.size(), "\n");
  return out;
}

// Returns false (and leaves `memo` unspecified) if `bytes` is not a complete memo file.
bool DecodeMemo(std::string_view bytes, absl::flat_hash_map<std::string, std::string>& memo) {
  if (bytes.substr(0, kMemoHeader.size()) != kMemoHeader) return false;
  bytes.remove_prefix(kMemoHeader.size());
  for (;;) {
    size_t eol = bytes.find('\n');
    if (eol == std::string_view::npos) return false;
    std::string_view line = bytes.substr(0, eol);
    bytes.remove_prefix(eol + 1);
    size_t sp = line.find(' ');
    if (sp == std::string_view::npos) return false;
    size_t n = 0;
    std::string_view num = line.substr(sp + 1);
    auto [end, ec] = std::from_chars(num.data(), num.data() + num.size(), n);
    if (ec != std::errc() || end != num.data() + num.size() || num.empty()) return false;
    if (line.substr(0, sp) == "end") return n == memo.size() && bytes.empty();
    if (bytes.size() < n + 1 || bytes[n] != '\n') return false;
    memo[std::string(line.substr(0, sp))] = std::string(bytes.substr(0, n));
    bytes.remove_prefix(n + 1);
  }
}

}  // namespace

absl::StatusOr<cache::ChecksumCache*> ContextChecksums::For(const std::string& context_dir) {
  absl::MutexLock lock(&mu_);
  auto it = caches_.find(context_dir);
  if (it != caches_.end()) return it->second.get();
  if (::mkdir(dir_.c_str(), 0700) != 0 && errno != EEXIST) {
    return base::ErrnoError(absl::StrCat("create '", dir_, "'"));
  }
  std::string path = absl::StrCat(dir_, "/", base::Digest::Of(context_dir).hex());
  cache::ChecksumCacheOptions options;
  options.hash_ownership = false;  // the client's owners never reach an image
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<cache::ChecksumCache> c,
                        cache::ChecksumCache::Open(path, options));
  cache::ChecksumCache* raw = c.get();
  caches_.emplace(context_dir, std::move(c));
  return raw;
}

void ContextChecksums::LoadMemoLocked() {
  if (memo_loaded_) return;
  memo_loaded_ = true;
  absl::StatusOr<std::optional<std::string>> bytes =
      cache::internal::ReadFileIfExists(MemoPath(dir_));
  if (!bytes.ok() || !bytes->has_value()) return;
  if (!DecodeMemo(**bytes, memo_)) memo_.clear();  // corrupt or truncated: start empty
}

std::optional<std::string> ContextChecksums::FindSnapshotCopy(const std::string& key) {
  absl::MutexLock lock(&memo_mu_);
  LoadMemoLocked();
  auto it = memo_.find(key);
  if (it == memo_.end()) return std::nullopt;
  snapshot_copy_hits_.fetch_add(1, std::memory_order_relaxed);
  return it->second;
}

void ContextChecksums::RecordSnapshotCopy(const std::string& key, std::string content) {
  absl::MutexLock lock(&memo_mu_);
  LoadMemoLocked();
  if (memo_.size() >= kMaxMemoEntries) memo_.clear();
  auto [it, inserted] = memo_.try_emplace(key, std::move(content));
  if (inserted) memo_dirty_ = true;
}

absl::Status ContextChecksums::SaveAll() {
  absl::Status first;
  {
    absl::MutexLock lock(&mu_);
    for (auto& [dir, c] : caches_) {
      absl::Status s = c->Save();
      if (first.ok() && !s.ok()) first = s;
    }
  }
  absl::MutexLock lock(&memo_mu_);
  if (!memo_dirty_) return first;
  if (::mkdir(dir_.c_str(), 0700) != 0 && errno != EEXIST) {
    return first.ok() ? base::ErrnoError(absl::StrCat("create '", dir_, "'")) : first;
  }
  absl::Status s = cache::internal::WriteFileAtomically(MemoPath(dir_), EncodeMemo(memo_));
  if (s.ok()) memo_dirty_ = false;
  return first.ok() ? s : first;
}

absl::StatusOr<std::optional<cache::ChecksumResult>> ChecksumCopy(cache::ChecksumCache& cache,
                                                                  int root_fd,
                                                                  const CopyOptions& o) {
  using MaybeChecksum = std::optional<cache::ChecksumResult>;
  if (o.exclude_in_source || o.include) return MaybeChecksum();
  CopySelection selection(o);
  KILN_ASSIGN_OR_RETURN(std::vector<std::string> paths, selection.Sources(root_fd));
  for (std::string& p : paths) {
    struct stat st;
    if (p.empty()) {
      p = ".";
    } else if (::fstatat(root_fd, p.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 &&
               S_ISLNK(st.st_mode)) {
      return MaybeChecksum();
    }
  }
  cache::ChecksumExcludeFn skip;  // none without a filter: nothing to decide
  if (o.exclude) {
    skip = [&selection](std::string_view rel, bool is_dir) {
      return !selection.Decide(std::string(rel), "", is_dir, true).take;
    };
  }
  KILN_ASSIGN_OR_RETURN(cache::ChecksumResult r, cache.Checksum(root_fd, paths, skip));
  if (!o.exclude) return MaybeChecksum(std::move(r));  // no filter, no lazy directory
  // Lazy directories (excluded, walked for exceptions) count only with something below them.
  std::set<std::string_view> tops(paths.begin(), paths.end());
  auto taken_below = [&r](const std::string& dir, const CopySelection& sel) {
    const std::string prefix = dir + "/";
    auto it = std::lower_bound(
        r.entries.begin(), r.entries.end(), prefix,
        [](const cache::ChecksumEntry& e, const std::string& p) { return e.path < p; });
    for (; it != r.entries.end() && it->path.starts_with(prefix); ++it) {
      if (it->type != 'd' || !sel.Decide(it->path, "", true, true).lazy) return true;
    }
    return false;
  };
  std::vector<bool> drop(r.entries.size(), false);
  bool pruned = false;
  for (size_t i = 0; i < r.entries.size(); ++i) {
    const cache::ChecksumEntry& e = r.entries[i];
    if (e.type == 'd' && !tops.contains(e.path) && selection.Decide(e.path, "", true, true).lazy &&
        !taken_below(e.path, selection)) {
      drop[i] = pruned = true;
    }
  }
  if (pruned) {
    std::vector<cache::ChecksumEntry> kept;
    kept.reserve(r.entries.size());
    for (size_t i = 0; i < r.entries.size(); ++i) {
      if (!drop[i]) kept.push_back(std::move(r.entries[i]));
    }
    r.entries = std::move(kept);
    r.combined = cache::CombineChecksumEntries(r.entries);
  }
  return MaybeChecksum(std::move(r));
}

}  // namespace kiln::engine
