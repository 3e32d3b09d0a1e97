#include "engine/ops/cache_mount.h"

#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "base/digest.h"
#include "base/fs.h"
#include "base/status.h"
#include "base/temp_dir.h"

namespace kiln::engine {
namespace {

using base::UniqueFd;

constexpr char kNewPrefix[] = "new-";
constexpr char kTrashPrefix[] = "trash-";

absl::Status MkdirIfMissing(const std::string& path) {
  if (::mkdir(path.c_str(), 0700) != 0 && errno != EEXIST) {
    return base::ErrnoError(absl::StrCat("create cache mount dir '", path, "'"));
  }
  return absl::OkStatus();
}

// Entry names of `dir` (no "." / ".."); a missing dir gives none.
std::vector<std::string> ListDir(const std::string& dir) {
  UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) return {};
  absl::StatusOr<std::vector<std::string>> names = base::ListDirNames(fd.get());
  return names.ok() ? *std::move(names) : std::vector<std::string>();
}

// Instance numbers present in `key_dir`, ascending.
std::vector<int> Instances(const std::string& key_dir) {
  std::vector<int> out;
  for (const std::string& n : ListDir(key_dir)) {
    int i = 0;
    if (absl::SimpleAtoi(n, &i) && i >= 0 && std::to_string(i) == n) out.push_back(i);
  }
  std::sort(out.begin(), out.end());
  return out;
}

// Opens `path` and takes `op` (LOCK_SH / LOCK_EX) without waiting. Returns an invalid fd when
// the lock is taken or the instance went away (renamed to trash by a prune) meanwhile.
absl::StatusOr<UniqueFd> TryLock(const std::string& path, int op) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd) {
    if (errno == ENOENT) return UniqueFd();
    return base::ErrnoError(absl::StrCat("open cache mount '", path, "'"));
  }
  if (::flock(fd.get(), op | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) return UniqueFd();
    return base::ErrnoError(absl::StrCat("lock cache mount '", path, "'"));
  }
  struct stat by_fd, by_name;
  if (::fstat(fd.get(), &by_fd) != 0 || ::lstat(path.c_str(), &by_name) != 0 ||
      by_fd.st_ino != by_name.st_ino || by_fd.st_dev != by_name.st_dev) {
    return UniqueFd();  // pruned between open and flock
  }
  return fd;
}

absl::Status WriteKeyFile(const std::string& key_dir, const std::string& key) {
  std::string path = key_dir + "/key";
  if (::access(path.c_str(), F_OK) == 0) return absl::OkStatus();
  base::WriteFileOptions o;
  o.mode = 0600;
  o.sync = false;
  return base::WriteFileAtomically(path, key + "\n", o);
}

// Makes a new instance of `req` under `key_dir`, locked exclusively, and returns its number
// and lock. Sets *raced (and returns an error) when a concurrent prune removed the half-made
// instance or the key dir; the caller then tries again.
absl::StatusOr<std::pair<int, UniqueFd>> CreateInstance(const std::string& key_dir,
                                                        const CacheMountRequest& req, bool* raced) {
  *raced = false;
  absl::StatusOr<base::TempDir> tmp = base::TempDir::Create(kNewPrefix, key_dir);
  if (!tmp.ok()) {
    *raced = tmp.status().code() == absl::StatusCode::kNotFound;
    return tmp.status();
  }
  UniqueFd fd(::open(tmp->path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd || ::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
    *raced = errno == ENOENT || errno == EWOULDBLOCK;
    return base::ErrnoError(absl::StrCat("open and lock '", tmp->path(), "'"));
  }
  if (req.seed) KILN_RETURN_IF_ERROR(req.seed(fd.get()));
  struct stat st;
  if (::fstat(fd.get(), &st) != 0)
    return base::ErrnoError(absl::StrCat("stat '", tmp->path(), "'"));
  bool seeded = static_cast<bool>(req.seed);
  uid_t uid = req.uid.value_or(seeded ? st.st_uid : 0);
  gid_t gid = req.gid.value_or(seeded ? st.st_gid : 0);
  mode_t mode = req.mode.value_or(seeded ? (st.st_mode & 07777) : 0755);
  if ((uid != st.st_uid || gid != st.st_gid) && ::fchown(fd.get(), uid, gid) != 0) {
    return base::ErrnoError(absl::StrCat("chown cache mount to ", uid, ":", gid));
  }
  if (::fchmod(fd.get(), mode & 07777) != 0) {
    return base::ErrnoError(absl::StrCat("chmod cache mount '", tmp->path(), "'"));
  }
  for (int n = 0;; ++n) {
    std::string name = absl::StrCat(key_dir, "/", n);
    if (::renameat2(AT_FDCWD, tmp->path().c_str(), AT_FDCWD, name.c_str(), RENAME_NOREPLACE) == 0) {
      tmp->Release();
      return std::make_pair(n, std::move(fd));
    }
    if (errno != EEXIST && errno != ENOTEMPTY) {
      *raced = errno == ENOENT;
      return base::ErrnoError(absl::StrCat("rename '", tmp->path(), "' to '", name, "'"));
    }
  }
}

thread_local int64_t tree_bytes = 0;

int AddUsage(const char*, const struct stat* st, int type, struct FTW*) {
  if (type != FTW_NS) tree_bytes += static_cast<int64_t>(st->st_blocks) * 512;
  return 0;
}

int64_t TreeBytes(const std::string& path) {
  tree_bytes = 0;
  ::nftw(path.c_str(), AddUsage, 16, FTW_PHYS | FTW_MOUNT);
  return tree_bytes;
}

}  // namespace

absl::StatusOr<CacheSharing> ParseCacheSharing(const std::string& s) {
  if (s.empty() || s == "shared") return CacheSharing::kShared;
  if (s == "private") return CacheSharing::kPrivate;
  if (s == "locked") return CacheSharing::kLocked;
  return absl::InvalidArgumentError(
      absl::StrCat("cache mount sharing '", s, "': expected shared, private or locked"));
}

absl::StatusOr<CacheMountLease> AcquireCacheMount(const std::string& dir,
                                                  const CacheMountRequest& req) {
  KILN_RETURN_IF_ERROR(MkdirIfMissing(dir));
  std::string key_dir = absl::StrCat(dir, "/", base::Digest::Of(req.key).hex());
  int want = req.sharing == CacheSharing::kShared ? LOCK_SH : LOCK_EX;
  for (;;) {
    KILN_RETURN_IF_ERROR(MkdirIfMissing(key_dir));  // again: a prune may have removed it
    KILN_RETURN_IF_ERROR(WriteKeyFile(key_dir, req.key));
    std::vector<int> existing = Instances(key_dir);
    for (int n : existing) {
      std::string path = absl::StrCat(key_dir, "/", n);
      KILN_ASSIGN_OR_RETURN(UniqueFd fd, TryLock(path, want));
      if (fd) return CacheMountLease(path, std::move(fd));
    }
    if (req.sharing == CacheSharing::kLocked && !existing.empty()) {
      if (req.cancelled && req.cancelled()) {
        return absl::CancelledError("waiting for a locked cache mount");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      continue;
    }
    bool raced = false;
    absl::StatusOr<std::pair<int, UniqueFd>> made = CreateInstance(key_dir, req, &raced);
    if (!made.ok()) {
      if (raced) continue;
      return made.status();
    }
    std::string path = absl::StrCat(key_dir, "/", made->first);
    if (want == LOCK_EX) return CacheMountLease(path, std::move(made->second));
    // Shared: convert to a shared lock (not atomic; if a private user slips in, look again).
    if (::flock(made->second.get(), LOCK_SH | LOCK_NB) == 0) {
      return CacheMountLease(path, std::move(made->second));
    }
  }
}

absl::StatusOr<CacheMountPruneReport> PruneCacheMounts(const std::string& dir) {
  CacheMountPruneReport report;
  for (const std::string& key_name : ListDir(dir)) {
    std::string key_dir = absl::StrCat(dir, "/", key_name);
    for (const std::string& name : ListDir(key_dir)) {
      if (name.rfind("key", 0) == 0) continue;
      std::string path = absl::StrCat(key_dir, "/", name);
      KILN_ASSIGN_OR_RETURN(UniqueFd lock, TryLock(path, LOCK_EX));
      if (!lock) continue;  // in use
      bool is_instance = name.rfind(kNewPrefix, 0) != 0 && name.rfind(kTrashPrefix, 0) != 0;
      std::string trash = path;
      if (name.rfind(kTrashPrefix, 0) != 0) {
        trash = absl::StrCat(key_dir, "/", kTrashPrefix, name);
        if (::rename(path.c_str(), trash.c_str()) != 0) {
          return base::ErrnoError(absl::StrCat("rename '", path, "' to '", trash, "'"));
        }
      }
      report.bytes_freed += TreeBytes(trash);
      KILN_RETURN_IF_ERROR(base::RemoveTree(trash));
      if (is_instance) ++report.instances_removed;
    }
    if (Instances(key_dir).empty()) {
      std::string key_file = key_dir + "/key";
      ::unlink(key_file.c_str());
      ::rmdir(key_dir.c_str());  // fails harmlessly if something was created meanwhile
    }
  }
  return report;
}

}  // namespace kiln::engine
