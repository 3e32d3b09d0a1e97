#include "engine/ops/exec_mount_source.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>

#include "absl/strings/str_cat.h"
#include "base/fs.h"
#include "base/status.h"
#include "cache/checksum_cache.h"
#include "engine/copy/context_checksums.h"
#include "engine/copy/copy.h"
#include "engine/ops/results.h"

namespace kiln::engine {
namespace {

absl::StatusOr<std::string> ReadLink(const std::string& path) {
  char buf[4096];
  ssize_t n = ::readlink(path.c_str(), buf, sizeof buf);
  if (n < 0) return base::ErrnoError(absl::StrCat("readlink '", path, "'"));
  if (static_cast<size_t>(n) == sizeof buf) {
    return absl::OutOfRangeError(absl::StrCat("readlink '", path, "': path too long"));
  }
  return std::string(buf, static_cast<size_t>(n));
}

absl::StatusOr<std::string> FdPath(int fd) { return ReadLink(absl::StrCat("/proc/self/fd/", fd)); }

// Wraps `exclude` so that any exclusion sets *hit (calls may come from several threads).
ExcludeFn Recording(const ExcludeFn& exclude, std::atomic<bool>* hit) {
  if (!exclude) return ExcludeFn();
  return [exclude, hit](std::string_view rel, bool is_dir) {
    bool out = exclude(rel, is_dir);
    if (out) hit->store(true, std::memory_order_relaxed);
    return out;
  };
}

}  // namespace

absl::StatusOr<std::unique_ptr<MountSource>> MountSource::Open(const MountServices& w,
                                                               const solver::InputRef& in) {
  std::unique_ptr<MountSource> out(new MountSource());
  out->services_ = &w;
  if (auto* ctx = dynamic_cast<const ContextResult*>(in.result.get())) {
    out->context_dir_ = ctx->dir();
    out->fd_.reset(::open(ctx->dir().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!out->fd_) return base::ErrnoError(absl::StrCat("open build context '", ctx->dir(), "'"));
    KILN_ASSIGN_OR_RETURN(out->exclude_, MakeExcludeFn(ctx->excludes()));
  } else if (auto* snap = dynamic_cast<const SnapshotResult*>(in.result.get())) {
    out->view_key_ = NewSnapshotKey("mount-view");
    KILN_ASSIGN_OR_RETURN(auto mounts, w.snapshots->View(out->view_key_, snap->snapshot()));
    KILN_ASSIGN_OR_RETURN(out->mounted_, MountedSnapshot::Mount(w.tmp, mounts));
    KILN_ASSIGN_OR_RETURN(out->fd_, out->mounted_.OpenRoot());
  } else {
    return absl::InvalidArgumentError("RUN --mount: the mount source is not a filesystem");
  }
  KILN_ASSIGN_OR_RETURN(out->root_path_, FdPath(out->fd_.get()));
  return out;
}

MountSource::~MountSource() {
  fd_.reset();
  (void)mounted_.Unmount();
  if (!view_key_.empty()) (void)services_->snapshots->Remove(view_key_);
}

absl::StatusOr<MountSource::Resolved> MountSource::Resolve(std::string_view source) const {
  std::string p(source);
  while (!p.empty() && p[0] == '/') p.erase(0, 1);
  if (p.empty()) p = ".";
  Resolved r;
  r.fd.reset(base::OpenAt2(fd_.get(), p, O_PATH, 0, base::kResolveInRoot));
  if (!r.fd) {
    if (errno == ENOENT) {
      return absl::NotFoundError(
          absl::StrCat("source '", base::AsAbsl(source), "' not found in ",
                       is_context() ? "the build context" : "the stage or image it mounts"));
    }
    return base::ErrnoError(absl::StrCat("open mount source '", base::AsAbsl(source), "'"));
  }
  struct stat st;
  if (::fstat(r.fd.get(), &st) != 0) {
    return base::ErrnoError(absl::StrCat("stat mount source '", base::AsAbsl(source), "'"));
  }
  r.is_dir = S_ISDIR(st.st_mode);
  KILN_ASSIGN_OR_RETURN(std::string abs, FdPath(r.fd.get()));
  if (abs == root_path_) return r;
  std::string prefix = root_path_ == "/" ? "/" : root_path_ + "/";
  if (abs.rfind(prefix, 0) != 0) {
    return absl::InternalError(absl::StrCat("mount source '", base::AsAbsl(source),
                                            "' resolved to '", abs, "' outside '", root_path_,
                                            "'"));
  }
  r.rel = abs.substr(prefix.size());
  return r;
}

absl::StatusOr<std::string> MountSource::ContentDigest(const Resolved& r, bool* excluded) const {
  std::atomic<bool> hit{false};
  CopyOptions o;
  o.sources = {"/" + r.rel};
  o.allow_wildcards = false;
  if (is_context()) {
    o.exclude = Recording(exclude_, &hit);
    std::string out;
    if (services_->checksums != nullptr) {
      KILN_ASSIGN_OR_RETURN(cache::ChecksumCache * cc, services_->checksums->For(context_dir_));
      absl::StatusOr<cache::ChecksumResult> sum =
          cc->Checksum(fd_.get(), {r.rel.empty() ? "." : r.rel}, o.exclude);
      if (!sum.ok()) {
        if (sum.status().code() == absl::StatusCode::kNotFound) {
          return absl::NotFoundError(
              absl::StrCat("source '/", r.rel, "' is excluded by .dockerignore"));
        }
        return sum.status();
      }
      out = "ctx:" + sum->combined.hex();
    } else {
      KILN_ASSIGN_OR_RETURN(std::string h, HashSources(fd_.get(), o));
      out = "ctx:" + h;
    }
    *excluded = hit.load();
    return out;
  }
  o.preserve_owner = true;
  KILN_ASSIGN_OR_RETURN(std::string h, HashSources(fd_.get(), o));
  *excluded = false;
  return "snap:" + h;
}

}  // namespace kiln::engine
