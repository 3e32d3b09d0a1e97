#include "snapshotter/diff/applier.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <memory>
#include <optional>
#include <unordered_set>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "base/status.h"
#include "snapshotter/diff/fs_util.h"
#include "snapshotter/diff/layer_decoder.h"
#include "snapshotter/diff/rooted_dir.h"
#include "snapshotter/diff/tar_reader.h"

namespace kiln::snapshotter {
namespace {

using internal::EntryType;
using internal::TarEntry;

// Hashes and counts the uncompressed tar stream (the diffID).
class HashingSource : public ByteSource {
 public:
  explicit HashingSource(ByteSource* in) : in_(in) {}
  absl::StatusOr<size_t> Read(void* buf, size_t len) override {
    KILN_ASSIGN_OR_RETURN(size_t n, in_->Read(buf, len));
    hash_.Update(buf, n);
    size_ += static_cast<int64_t>(n);
    return n;
  }
  base::Digest Finish() { return hash_.Finish(); }
  int64_t size() const { return size_; }

 private:
  ByteSource* in_;
  base::Sha256 hash_;
  int64_t size_ = 0;
};

// Where an entry goes: its parent dir fd (inside the root) and leaf name.
struct Place {
  std::string path;  // clean relative path
  std::string leaf;
  base::UniqueFd dir;
};

class Applier {
 public:
  Applier(internal::RootedDir root, internal::TarReader* tar, const ApplyOptions& o, ApplyResult* r)
      : root_(std::move(root)), tar_(tar), options_(o), result_(r), buf_(1 << 20, '\0') {}

  absl::Status Run() {
    for (;;) {
      KILN_ASSIGN_OR_RETURN(std::optional<TarEntry> e, tar_->Next());
      if (!e) break;
      ++result_->entries;
      KILN_RETURN_IF_ERROR(Apply(*e));
    }
    return SetDirTimes();
  }

 private:
  absl::Status Apply(const TarEntry& e);
  absl::Status Whiteout(const std::string& parent, const std::string& leaf,
                        const std::string& path);
  absl::Status RemoveExisting(const Place& p, bool keep_dir);
  absl::Status CreateFile(const Place& p, const TarEntry& e);
  absl::Status CreateDir(const Place& p, const TarEntry& e);
  absl::Status CreateHardlink(const Place& p, const TarEntry& e);
  absl::Status CreateOther(const Place& p, const TarEntry& e);
  absl::Status Chown(const Place& p, int fd, const TarEntry& e);
  absl::Status SetXattrs(const Place& p, int fd, const TarEntry& e);
  absl::Status SetDirTimes();
  void Warn(std::string w) { result_->warnings.push_back(std::move(w)); }

  internal::RootedDir root_;
  internal::TarReader* tar_;
  const ApplyOptions& options_;
  ApplyResult* result_;
  std::string buf_;
  std::unordered_set<std::string> created_;
  std::vector<std::pair<std::string, int64_t>> dir_times_;
};

struct timespec Ts(int64_t sec) {
  struct timespec t {};
  t.tv_sec = static_cast<time_t>(sec);
  return t;
}

absl::Status Applier::Apply(const TarEntry& e) {
  KILN_ASSIGN_OR_RETURN(std::string path, internal::CleanPath(e.path));
  if (path.empty()) return absl::OkStatus();  // the root itself
  auto [parent, leaf] = internal::SplitPath(path);
  if (absl::StartsWith(leaf, internal::kWhiteoutPrefix)) return Whiteout(parent, leaf, path);
  Place p;
  p.path = path;
  p.leaf = leaf;
  KILN_ASSIGN_OR_RETURN(
      p.dir, root_.EnsureDir(parent, [this](const std::string& made) { created_.insert(made); }));
  KILN_RETURN_IF_ERROR(RemoveExisting(p, e.type == EntryType::kDir));
  created_.insert(path);
  switch (e.type) {
    case EntryType::kFile:
      return CreateFile(p, e);
    case EntryType::kDir:
      return CreateDir(p, e);
    case EntryType::kHardlink:
      return CreateHardlink(p, e);
    default:
      return CreateOther(p, e);
  }
}

absl::Status Applier::Whiteout(const std::string& parent, const std::string& leaf,
                               const std::string& path) {
  if (leaf == internal::kOpaqueWhiteout) {
    absl::StatusOr<base::UniqueFd> dir = root_.Resolve(parent);
    if (absl::IsNotFound(dir.status())) return absl::OkStatus();
    if (!dir.ok()) return dir.status();
    KILN_ASSIGN_OR_RETURN(std::vector<std::string> names, internal::ListDir(dir->get(), parent));
    for (const std::string& n : names) {
      std::string child = parent.empty() ? n : parent + "/" + n;
      if (created_.count(child) == 0) {
        KILN_RETURN_IF_ERROR(internal::RemoveAt(dir->get(), n, child));
      }
    }
    return absl::OkStatus();
  }
  if (absl::StartsWith(leaf, ".wh..wh.")) return absl::OkStatus();  // aufs metadata
  std::string name = leaf.substr(4);
  if (name.empty() || name == "." || name == ".." || name.find('/') != std::string::npos) {
    return absl::InvalidArgumentError("layer entry '" + path + "': invalid whiteout name");
  }
  absl::StatusOr<base::UniqueFd> dir = root_.Resolve(parent);
  if (absl::IsNotFound(dir.status())) return absl::OkStatus();
  if (!dir.ok()) return dir.status();
  return internal::RemoveAt(dir->get(), name, parent.empty() ? name : parent + "/" + name);
}

absl::Status Applier::RemoveExisting(const Place& p, bool keep_dir) {
  struct stat st {};
  if (::fstatat(p.dir.get(), p.leaf.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno == ENOENT) return absl::OkStatus();
    return base::ErrnoError("stat '" + p.path + "'");
  }
  if (keep_dir && S_ISDIR(st.st_mode)) return absl::OkStatus();
  return internal::RemoveAt(p.dir.get(), p.leaf, p.path);
}

absl::Status Applier::CreateFile(const Place& p, const TarEntry& e) {
  int fd = ::openat(p.dir.get(), p.leaf.c_str(),
                    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return base::ErrnoError("create '" + p.path + "'");
  base::UniqueFd file(fd);
  for (;;) {
    KILN_ASSIGN_OR_RETURN(size_t n, tar_->ReadData(buf_.data(), buf_.size()));
    if (n == 0) break;
    for (size_t off = 0; off < n;) {
      ssize_t w = ::write(file.get(), buf_.data() + off, n - off);
      if (w < 0) {
        if (errno == EINTR) continue;
        return base::ErrnoError("write '" + p.path + "'");
      }
      off += static_cast<size_t>(w);
    }
  }
  KILN_RETURN_IF_ERROR(Chown(p, file.get(), e));
  if (::fchmod(file.get(), e.mode) != 0) return base::ErrnoError("chmod '" + p.path + "'");
  KILN_RETURN_IF_ERROR(SetXattrs(p, file.get(), e));
  struct timespec times[2] = {Ts(e.mtime), Ts(e.mtime)};
  if (::futimens(file.get(), times) != 0) return base::ErrnoError("set mtime of '" + p.path + "'");
  return absl::OkStatus();
}

absl::Status Applier::CreateDir(const Place& p, const TarEntry& e) {
  if (::mkdirat(p.dir.get(), p.leaf.c_str(), 0700) != 0 && errno != EEXIST) {
    return base::ErrnoError("mkdir '" + p.path + "'");
  }
  KILN_ASSIGN_OR_RETURN(base::UniqueFd dir, internal::OpenDirAt(p.dir.get(), p.leaf));
  KILN_RETURN_IF_ERROR(Chown(p, dir.get(), e));
  if (::fchmod(dir.get(), e.mode) != 0) return base::ErrnoError("chmod '" + p.path + "'");
  KILN_RETURN_IF_ERROR(SetXattrs(p, dir.get(), e));
  dir_times_.emplace_back(p.path, e.mtime);
  return absl::OkStatus();
}

absl::Status Applier::CreateHardlink(const Place& p, const TarEntry& e) {
  KILN_ASSIGN_OR_RETURN(std::string target, internal::CleanPath(e.linkname));
  if (target.empty()) {
    return absl::InvalidArgumentError("layer entry '" + p.path + "': hardlink to the root");
  }
  auto [tparent, tleaf] = internal::SplitPath(target);
  absl::StatusOr<base::UniqueFd> tdir = root_.Resolve(tparent);
  if (!tdir.ok()) {
    return base::Annotate(tdir.status(), "hardlink '" + p.path + "' to '" + e.linkname + "'");
  }
  if (::linkat(tdir->get(), tleaf.c_str(), p.dir.get(), p.leaf.c_str(), 0) != 0) {
    return base::ErrnoError("hardlink '" + p.path + "' to '" + e.linkname + "'");
  }
  return absl::OkStatus();
}

absl::Status Applier::CreateOther(const Place& p, const TarEntry& e) {
  const char* leaf = p.leaf.c_str();
  int dfd = p.dir.get();
  if (e.type == EntryType::kSymlink) {
    if (::symlinkat(e.linkname.c_str(), dfd, leaf) != 0) {
      return base::ErrnoError("symlink '" + p.path + "'");
    }
  } else {
    mode_t type = e.type == EntryType::kChar    ? S_IFCHR
                  : e.type == EntryType::kBlock ? S_IFBLK
                                                : S_IFIFO;
    dev_t dev = type == S_IFIFO ? 0 : makedev(e.devmajor, e.devminor);
    if (::mknodat(dfd, leaf, type | 0600, dev) != 0) {
      if (errno == EPERM && type != S_IFIFO) {
        created_.erase(p.path);
        Warn("skipped device node '" + p.path + "': mknod not permitted (rootless)");
        return absl::OkStatus();
      }
      return base::ErrnoError("mknod '" + p.path + "'");
    }
  }
  KILN_RETURN_IF_ERROR(Chown(p, -1, e));
  if (e.type != EntryType::kSymlink && ::fchmodat(dfd, leaf, e.mode, AT_SYMLINK_NOFOLLOW) != 0) {
    return base::ErrnoError("chmod '" + p.path + "'");
  }
  KILN_RETURN_IF_ERROR(SetXattrs(p, -1, e));
  struct timespec times[2] = {Ts(e.mtime), Ts(e.mtime)};
  if (::utimensat(dfd, leaf, times, AT_SYMLINK_NOFOLLOW) != 0) {
    return base::ErrnoError("set mtime of '" + p.path + "'");
  }
  return absl::OkStatus();
}

absl::Status Applier::Chown(const Place& p, int fd, const TarEntry& e) {
  auto chown = [&](uid_t u, gid_t g) {
    return fd >= 0 ? ::fchown(fd, u, g)
                   : ::fchownat(p.dir.get(), p.leaf.c_str(), u, g, AT_SYMLINK_NOFOLLOW);
  };
  if (chown(e.uid, e.gid) == 0) return absl::OkStatus();
  if (errno != EINVAL) {
    return base::ErrnoError(absl::StrCat("chown '", p.path, "' to ", e.uid, ":", e.gid));
  }
  if (options_.unmapped_ids == UnmappedIds::kFail) {
    return absl::InvalidArgumentError(absl::StrCat(
        "chown '", p.path, "' to ", e.uid, ":", e.gid,
        ": id not mapped in this user namespace (map a subordinate id range, or apply with "
        "UnmappedIds::kMapToRoot)"));
  }
  Warn(absl::StrCat("'", p.path, "': unmapped owner ", e.uid, ":", e.gid, " mapped to 0:0"));
  if (chown(0, 0) != 0) return base::ErrnoError("chown '" + p.path + "' to 0:0");
  return absl::OkStatus();
}

absl::Status Applier::SetXattrs(const Place& p, int fd, const TarEntry& e) {
  std::string path = fd >= 0 ? std::string() : internal::FdPath(p.dir.get(), p.leaf);
  for (const auto& [k, v] : e.xattrs) {
    int rc = fd >= 0 ? ::fsetxattr(fd, k.c_str(), v.data(), v.size(), 0)
                     : ::lsetxattr(path.c_str(), k.c_str(), v.data(), v.size(), 0);
    if (rc == 0) continue;
    if (errno == EPERM || errno == ENOTSUP || errno == EACCES) {
      Warn("'" + p.path + "': xattr '" + k + "' not set: " + strerror(errno));
      continue;
    }
    return base::ErrnoError("set xattr '" + k + "' on '" + p.path + "'");
  }
  return absl::OkStatus();
}

absl::Status Applier::SetDirTimes() {
  for (auto it = dir_times_.rbegin(); it != dir_times_.rend(); ++it) {
    auto [parent, leaf] = internal::SplitPath(it->first);
    absl::StatusOr<base::UniqueFd> dir = root_.Resolve(parent);
    if (absl::IsNotFound(dir.status())) continue;  // removed by a later whiteout
    if (!dir.ok()) return dir.status();
    struct timespec times[2] = {Ts(it->second), Ts(it->second)};
    if (::utimensat(dir->get(), leaf.c_str(), times, AT_SYMLINK_NOFOLLOW) != 0 && errno != ENOENT) {
      return base::ErrnoError("set mtime of '" + it->first + "'");
    }
  }
  return absl::OkStatus();
}

absl::Status Drain(ByteSource* src) {
  std::string buf(64 * 1024, '\0');
  for (;;) {
    KILN_ASSIGN_OR_RETURN(size_t n, src->Read(buf.data(), buf.size()));
    if (n == 0) return absl::OkStatus();
  }
}

}  // namespace

absl::StatusOr<ApplyResult> ApplyLayer(ByteSource* layer, const std::string& target,
                                       const ApplyOptions& options) {
  KILN_ASSIGN_OR_RETURN(internal::RootedDir root, internal::RootedDir::Open(target));
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<LayerDecoder> decoder, LayerDecoder::Open(layer));
  HashingSource hashed(decoder.get());
  internal::TarReader tar(&hashed);
  ApplyResult result;
  result.compression = decoder->compression();
  Applier applier(std::move(root), &tar, options, &result);
  absl::Status s = applier.Run();
  if (s.ok()) s = Drain(&hashed);
  if (!s.ok()) return base::Annotate(s, "apply layer to '" + target + "'");
  result.diff_id = hashed.Finish();
  result.uncompressed_size = hashed.size();
  if (!options.expected_diff_id.empty() && result.diff_id != options.expected_diff_id) {
    return absl::DataLossError("apply layer to '" + target + "': diffID " + result.diff_id.str() +
                               " does not match the expected " + options.expected_diff_id.str());
  }
  return result;
}

}  // namespace kiln::snapshotter
