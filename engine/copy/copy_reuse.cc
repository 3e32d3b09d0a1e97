#include "engine/copy/copy_reuse.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <string_view>
#include <system_error>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/digest.h"
#include "base/status.h"
#include "base/unique_fd.h"
#include "cache/checksum_state.h"
#include "engine/copy/copy_paths.h"

namespace kiln::engine {
namespace {

using base::UniqueFd;

constexpr std::string_view kHeader = "kiln-copy-reuse v1\n";

using cache::internal::CtimeNs;
using cache::internal::MtimeNs;

bool HasOverlayMarker(int fd) {
  char v[8];
  for (const char* name : {"trusted.overlay.opaque", "user.overlay.opaque",
                           "trusted.overlay.redirect", "user.overlay.redirect"}) {
    if (::fgetxattr(fd, name, v, sizeof v) >= 0 || errno == ERANGE) return true;
  }
  return false;
}

// Gives new directory `dst` the owner, mode and (non-overlay) xattrs of `src`.
bool MirrorDir(int src, int dst) {
  struct stat st;
  if (::fstat(src, &st) != 0) return false;
  if (::fchown(dst, st.st_uid, st.st_gid) != 0) return false;
  if (::fchmod(dst, st.st_mode & 07777) != 0) return false;
  char names[4096];
  ssize_t n = ::flistxattr(src, names, sizeof names);
  if (n < 0) return errno == ENOTSUP;
  for (ssize_t off = 0; off < n;) {
    std::string name(names + off);
    off += static_cast<ssize_t>(name.size()) + 1;
    if (name.starts_with("trusted.overlay.") || name.starts_with("user.overlay.")) continue;
    char value[65536];
    ssize_t vn = ::fgetxattr(src, name.c_str(), value, sizeof value);
    if (vn < 0 || ::fsetxattr(dst, name.c_str(), value, static_cast<size_t>(vn), 0) != 0) {
      return false;
    }
  }
  return true;
}

std::pair<std::string, std::string> SplitRel(const std::string& rel) {
  size_t slash = rel.rfind('/');
  if (slash == std::string::npos) return {"", rel};
  return {rel.substr(0, slash), rel.substr(slash + 1)};
}

// The directory `rel` in both the earlier layer and the new upper dir, the latter created on
// the way (mirroring the earlier layer). Invalid fds when the earlier layer has no plain
// directory chain there.
struct DirPair {
  UniqueFd prev, next;
};

DirPair OpenPair(int prev_root, int next_root, const std::string& rel) {
  DirPair out;
  out.prev.reset(::fcntl(prev_root, F_DUPFD_CLOEXEC, 0));
  out.next.reset(::fcntl(next_root, F_DUPFD_CLOEXEC, 0));
  if (!out.prev || !out.next) return {};
  size_t start = 0;
  while (start < rel.size()) {
    size_t end = rel.find('/', start);
    if (end == std::string::npos) end = rel.size();
    std::string name = rel.substr(start, end - start);
    start = end + 1;
    if (name.empty() || name == "." || name == "..") return {};
    UniqueFd p(::openat(out.prev.get(), name.c_str(),
                        O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!p || HasOverlayMarker(p.get())) return {};
    bool made = ::mkdirat(out.next.get(), name.c_str(), 0700) == 0;
    if (!made && errno != EEXIST) return {};
    UniqueFd q(::openat(out.next.get(), name.c_str(),
                        O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!q) return {};
    if (made && !MirrorDir(p.get(), q.get())) return {};
    out.prev = std::move(p);
    out.next = std::move(q);
  }
  return out;
}

bool ParseU64(std::string_view& in, char stop, uint64_t* out) {
  size_t end = in.find(stop);
  if (end == std::string_view::npos || end == 0) return false;
  auto [ptr, ec] = std::from_chars(in.data(), in.data() + end, *out);
  if (ec != std::errc() || ptr != in.data() + end) return false;
  in.remove_prefix(end + 1);
  return true;
}

std::string Encode(const CopyManifest& m) {
  std::string out(kHeader);
  absl::StrAppend(&out, m.snapshot.size(), "\n", m.snapshot, "\n");
  for (const CopyManifest::Entry& e : m.entries) {
    const CopySourceId& i = e.id;
    absl::StrAppend(&out, e.dst_rel.size(), " ", e.src_rel.size(), " ", i.dev, " ", i.ino, " ",
                    static_cast<uint64_t>(i.size), " ", static_cast<uint64_t>(i.mtime_ns), " ",
                    static_cast<uint64_t>(i.ctime_ns), " ", i.mode, " ", i.uid, " ", i.gid,
                    "\n", e.dst_rel, e.src_rel);
  }
  absl::StrAppend(&out, "end ", m.entries.size(), "\n");
  return out;
}

// Null when `in` is not one complete manifest.
std::shared_ptr<CopyManifest> Decode(std::string_view in) {
  if (!in.starts_with(kHeader)) return nullptr;
  in.remove_prefix(kHeader.size());
  auto m = std::make_shared<CopyManifest>();
  uint64_t n = 0;
  if (!ParseU64(in, '\n', &n) || in.size() < n + 1 || in[n] != '\n') return nullptr;
  m->snapshot = std::string(in.substr(0, n));
  in.remove_prefix(n + 1);
  while (!in.starts_with("end ")) {
    uint64_t f[10];
    for (int k = 0; k < 10; ++k) {
      if (!ParseU64(in, k == 9 ? '\n' : ' ', &f[k])) return nullptr;
    }
    if (in.size() < f[0] + f[1]) return nullptr;
    CopyManifest::Entry e;
    e.dst_rel = std::string(in.substr(0, f[0]));
    e.src_rel = std::string(in.substr(f[0], f[1]));
    in.remove_prefix(f[0] + f[1]);
    e.id = CopySourceId{f[2],
                        f[3],
                        static_cast<int64_t>(f[4]),
                        static_cast<int64_t>(f[5]),
                        static_cast<int64_t>(f[6]),
                        static_cast<uint32_t>(f[7]),
                        static_cast<uint32_t>(f[8]),
                        static_cast<uint32_t>(f[9])};
    m->entries.push_back(std::move(e));
  }
  in.remove_prefix(4);
  uint64_t count = 0;
  if (!ParseU64(in, '\n', &count) || count != m->entries.size() || !in.empty()) return nullptr;
  return m;
}

}  // namespace

std::atomic<int64_t> CopyReuse::files_linked_{0};

CopySourceId CopySourceId::Of(const struct stat& st) {
  return CopySourceId{static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino),
                      static_cast<int64_t>(st.st_size), MtimeNs(st), CtimeNs(st),
                      static_cast<uint32_t>(st.st_mode), static_cast<uint32_t>(st.st_uid),
                      static_cast<uint32_t>(st.st_gid)};
}

std::string CopyReuse::KeyOf(const std::string& dest_parent, const std::string& context_dir,
                             const std::string& definition) {
  return base::Digest::Of(absl::StrCat("copy-reuse v1\n", dest_parent.size(), ":", dest_parent,
                                       "\n", context_dir.size(), ":", context_dir, "\n",
                                       definition))
      .hex();
}

std::shared_ptr<const CopyManifest> CopyReuse::Find(const std::string& key) {
  absl::MutexLock lock(&mu_);
  for (auto it = recent_.begin(); it != recent_.end(); ++it) {
    if (it->first == key) {
      recent_.splice(recent_.begin(), recent_, it);
      return recent_.front().second;
    }
  }
  UniqueFd fd(::open(absl::StrCat(dir_, "/", key).c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return nullptr;
  std::string bytes;
  char buf[1 << 16];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0) return nullptr;
    if (n == 0) break;
    bytes.append(buf, static_cast<size_t>(n));
  }
  std::shared_ptr<const CopyManifest> m = Decode(bytes);
  if (m == nullptr) return nullptr;
  recent_.emplace_front(key, m);
  if (recent_.size() > kMemoryEntries) recent_.pop_back();
  return m;
}

absl::Status CopyReuse::Record(const std::string& key, CopyManifest manifest) {
  auto m = std::make_shared<const CopyManifest>(std::move(manifest));
  std::string bytes = Encode(*m);
  {
    absl::MutexLock lock(&mu_);
    for (auto it = recent_.begin(); it != recent_.end(); ++it) {
      if (it->first == key) {
        recent_.erase(it);
        break;
      }
    }
    recent_.emplace_front(key, m);
    if (recent_.size() > kMemoryEntries) recent_.pop_back();
  }
  if (::mkdir(dir_.c_str(), 0700) != 0 && errno != EEXIST) {
    return base::ErrnoError(absl::StrCat("create '", dir_, "'"));
  }
  std::string path = absl::StrCat(dir_, "/", key);
  std::string tmp = absl::StrCat(path, ".tmp-", ::gettid());
  UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  if (!fd) return base::ErrnoError(absl::StrCat("create '", tmp, "'"));
  for (size_t off = 0; off < bytes.size();) {
    ssize_t n = ::write(fd.get(), bytes.data() + off, bytes.size() - off);
    if (n < 0) {
      ::unlink(tmp.c_str());
      return base::ErrnoError(absl::StrCat("write '", tmp, "'"));
    }
    off += static_cast<size_t>(n);
  }
  fd.reset();
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    ::unlink(tmp.c_str());
    return base::ErrnoError(absl::StrCat("rename '", tmp, "'"));
  }
  TrimDisk(key);
  return absl::OkStatus();
}

void CopyReuse::Forget(const std::string& key) {
  {
    absl::MutexLock lock(&mu_);
    recent_.remove_if([&](const auto& e) { return e.first == key; });
  }
  ::unlink(absl::StrCat(dir_, "/", key).c_str());
}

void CopyReuse::TrimDisk(const std::string& keep) {
  DIR* d = ::opendir(dir_.c_str());
  if (d == nullptr) return;
  std::vector<std::pair<int64_t, std::string>> files;  // (mtime, name)
  while (struct dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name.size() != 64 || name == keep) continue;  // only manifests (hex keys)
    struct stat st;
    if (::fstatat(::dirfd(d), name.c_str(), &st, 0) == 0) {
      files.emplace_back(MtimeNs(st), std::move(name));
    }
  }
  ::closedir(d);
  if (files.size() < kMaxManifests) return;
  std::sort(files.begin(), files.end());
  for (size_t i = 0; i + kMaxManifests - 1 < files.size(); ++i) Forget(files[i].second);
}

PrelinkedFiles CopyReuse::Prelink(int src_root, const std::string& prev_layer,
                                  const std::string& upper, const CopyManifest& m) {
  PrelinkedFiles placed;
  UniqueFd prev(::open(prev_layer.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  UniqueFd next(::open(upper.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!prev || !next) return placed;
  // A destination written twice (two sources landing on one path) is left to the copy.
  absl::flat_hash_map<std::string_view, int> writes;
  for (const CopyManifest::Entry& e : m.entries) ++writes[e.dst_rel];

  std::string src_dir_rel = "\x01", dst_dir_rel = "\x01";  // no real path looks like this
  UniqueFd src_dir;
  DirPair dirs;
  for (const CopyManifest::Entry& e : m.entries) {
    if (writes[e.dst_rel] != 1 || e.dst_rel.empty()) continue;
    auto [sparent, sname] = SplitRel(e.src_rel);
    if (sparent != src_dir_rel) {
      src_dir.reset(internal::OpenBeneathNoSymlinks(src_root, sparent, O_RDONLY | O_DIRECTORY));
      src_dir_rel = sparent;
    }
    if (!src_dir || sname.empty()) continue;
    struct stat st;
    if (::fstatat(src_dir.get(), sname.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
    if (!S_ISREG(st.st_mode) || st.st_nlink != 1 || CopySourceId::Of(st) != e.id) continue;

    auto [dparent, dname] = SplitRel(e.dst_rel);
    if (dparent != dst_dir_rel) {
      dirs = OpenPair(prev.get(), next.get(), dparent);
      dst_dir_rel = dparent;
    }
    if (!dirs.prev || dname.empty()) continue;
    struct stat old;
    if (::fstatat(dirs.prev.get(), dname.c_str(), &old, AT_SYMLINK_NOFOLLOW) != 0) continue;
    if (!S_ISREG(old.st_mode) || old.st_size != e.id.size || MtimeNs(old) != e.id.mtime_ns) {
      continue;
    }
    if (::linkat(dirs.prev.get(), dname.c_str(), dirs.next.get(), dname.c_str(), 0) != 0) {
      continue;
    }
    placed.emplace(e.dst_rel, e.id);
  }
  files_linked_.fetch_add(static_cast<int64_t>(placed.size()), std::memory_order_relaxed);
  return placed;
}

bool CopyReuse::Reusable(PrelinkedFiles& placed, const std::string& dst_rel,
                         const struct stat& src) {
  if (placed.empty()) return false;
  auto it = placed.find(dst_rel);
  if (it == placed.end()) return false;
  bool same = S_ISREG(src.st_mode) && src.st_nlink == 1 && CopySourceId::Of(src) == it->second;
  placed.erase(it);
  return same;
}

}  // namespace kiln::engine
