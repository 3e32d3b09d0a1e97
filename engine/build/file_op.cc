#include "engine/build/file_op.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <memory>
#include <optional>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "base/digest.h"
#include "base/fs.h"
#include "base/status.h"
#include "cache/cache_key.h"
#include "cache/checksum_cache.h"
#include "engine/build/context_checksums.h"
#include "engine/build/copy_parents.h"
#include "engine/build/copy_reuse.h"
#include "engine/build/excludes.h"
#include "engine/build/results.h"
#include "engine/build/rootfs_users.h"
#include "engine/ops/copy.h"

namespace kiln::engine {
namespace {

using solver::InputRef;

// A copy source opened for reading: the context dir, or a stage snapshot mounted read-only.
class OpenedSource {
 public:
  static absl::StatusOr<std::unique_ptr<OpenedSource>> Open(const Worker& w,
                                                            const solver::Result& r) {
    auto out = std::make_unique<OpenedSource>();
    out->worker_ = &w;
    if (auto* ctx = dynamic_cast<const ContextResult*>(&r)) {
      out->fd_.reset(::open(ctx->dir().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
      if (!out->fd_) return base::ErrnoError(absl::StrCat("open build context '", ctx->dir(), "'"));
      return out;
    }
    auto* snap = dynamic_cast<const SnapshotResult*>(&r);
    if (snap == nullptr) return absl::InternalError("copy: unexpected source result type");
    out->view_key_ = NewSnapshotKey("view");
    KILN_ASSIGN_OR_RETURN(auto mounts, w.snapshots->View(out->view_key_, snap->snapshot()));
    KILN_ASSIGN_OR_RETURN(out->mounted_, MountedSnapshot::Mount(w, mounts));
    KILN_ASSIGN_OR_RETURN(out->fd_, out->mounted_.OpenRoot());
    return out;
  }
  ~OpenedSource() {
    fd_.reset();
    (void)mounted_.Unmount();
    if (!view_key_.empty()) (void)worker_->snapshots->Remove(view_key_);
  }
  int fd() const { return fd_.get(); }

 private:
  const Worker* worker_ = nullptr;
  std::string view_key_;
  MountedSnapshot mounted_;
  base::UniqueFd fd_;
};

absl::StatusOr<CopyOptions> OptionsFor(const FileAction& a) {
  CopyOptions o;
  o.sources = a.sources;
  o.dest = a.path;
  o.mode = a.mode;
  if (!a.mode_string.empty()) {
    KILN_ASSIGN_OR_RETURN(ChmodSpec spec, ChmodSpec::Parse(a.mode_string));
    o.chmod = std::move(spec);
  }
  o.preserve_owner = a.preserve_owner;
  o.allow_empty_wildcard = a.allow_empty_wildcard;
  o.auto_extract = a.auto_extract;
  KILN_ASSIGN_OR_RETURN(o.exclude, MakeExcludeFn(a.context_excludes));
  KILN_ASSIGN_OR_RETURN(o.exclude_in_source, MakeExcludeFn(a.excludes));
  return o;
}

// The CopyFiles calls one copy action makes: one, or (COPY --parents) one per source, from
// its pivot with the source's pattern as the include filter.
absl::StatusOr<std::vector<CopyOptions>> CopiesFor(const FileAction& a, int src_root_fd) {
  KILN_ASSIGN_OR_RETURN(CopyOptions base, OptionsFor(a));
  if (!a.parents) return std::vector<CopyOptions>{std::move(base)};
  std::vector<CopyOptions> out;
  for (const std::string& src : a.sources) {
    ParentsSource ps = SplitParentsSource(src);
    if (ps.required) {
      std::string full = ps.pattern.empty() ? ps.pivot : ps.pivot + "/" + ps.pattern;
      if (!ExpandWildcards(src_root_fd, full).ok()) {
        return absl::NotFoundError(absl::StrCat("copy --parents: source '", full,
                                                "' not found in the build context or stage"));
      }
    }
    CopyOptions o = base;
    o.sources = {ps.pivot};
    if (!ps.pattern.empty()) {
      KILN_ASSIGN_OR_RETURN(CopyInclude inc, MakeParentsInclude(ps.pattern));
      o.include = std::move(inc);
    }
    out.push_back(std::move(o));
  }
  return out;
}

// The memo key of a copy out of committed snapshot `snapshot`: the snapshot's name (never
// reused) and the copy action (its index in the op definition, which holds every field that
// changes what HashSources selects: sources, excludes, --parents, wildcards, ownership).
std::string SnapshotCopyKey(const std::string& snapshot, const std::string& definition,
                            size_t action) {
  std::string material = absl::StrCat("copy-from v2\n", snapshot.size(), ":", snapshot, "\n",
                                      action, "\n", definition);
  return base::Digest::Of(material).hex();
}

bool HasGlob(std::string_view s) { return s.find_first_of("*?[\\") != std::string_view::npos; }

// Content digest of a copy from the build context through the persisted checksum cache: a
// no-op rebuild stats the selected files and reads none. Falls back to HashSources when a
// selected path is itself a symlink (a copy follows it; the checksum cache never does).
absl::StatusOr<std::string> ContextContentDigest(const Worker& w, const std::string& context_dir,
                                                 int fd, const CopyOptions& o) {
  if (w.checksums == nullptr) return HashSources(fd, o);
  std::vector<std::string> paths;
  for (const std::string& src : o.sources) {
    if (HasGlob(src)) {
      auto m = ExpandWildcards(fd, src);
      if (!m.ok()) {
        if (o.allow_empty_wildcard && m.status().code() == absl::StatusCode::kNotFound) continue;
        return m.status();
      }
      paths.insert(paths.end(), m->begin(), m->end());
    } else {
      std::string p = src;
      while (!p.empty() && p[0] == '/') p.erase(0, 1);
      paths.push_back(p.empty() ? "." : p);
    }
  }
  for (const std::string& p : paths) {
    struct stat st;
    if (::fstatat(fd, p.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode)) {
      return HashSources(fd, o);
    }
  }
  KILN_ASSIGN_OR_RETURN(cache::ChecksumCache * cc, w.checksums->For(context_dir));
  KILN_ASSIGN_OR_RETURN(cache::ChecksumResult r, cc->Checksum(fd, paths, o.exclude));
  return "ctx:" + r.combined.hex();
}

absl::Status WriteFileInRoot(int root_fd, const FileAction& a, std::optional<Owner> owner) {
  std::string path = a.path;
  size_t slash = path.find_last_of('/');
  std::string parent = slash == std::string::npos ? "/" : path.substr(0, slash + 1);
  KILN_RETURN_IF_ERROR(MakeDirs(root_fd, parent, 0755));
  base::UniqueFd fd(base::OpenAt2(root_fd, path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW, 0600,
                                  base::kResolveInRoot));
  if (!fd) return base::ErrnoError(absl::StrCat("create '", path, "'"));
  size_t off = 0;
  while (off < a.data.size()) {
    ssize_t n = ::write(fd.get(), a.data.data() + off, a.data.size() - off);
    if (n < 0) return base::ErrnoError(absl::StrCat("write '", path, "'"));
    off += static_cast<size_t>(n);
  }
  if (owner && ::fchown(fd.get(), owner->uid, owner->gid) != 0) {
    return base::ErrnoError(absl::StrCat("chown '", path, "'"));
  }
  if (::fchmod(fd.get(), a.mode.value_or(0644)) != 0) {
    return base::ErrnoError(absl::StrCat("chmod '", path, "'"));
  }
  return absl::OkStatus();
}

// The layer dir of committed snapshot `snapshot` as a view of it shows (the top-most lower
// dir), or "" when that is not a plain overlay layer (a flattened chain, another driver).
std::string TopLayerOf(const std::vector<base::Mount>& view) {
  if (view.size() != 1) return "";
  std::string dir;
  if (view[0].type == "overlay") {
    std::vector<std::string> lowers = base::OverlayOption(view[0], "lowerdir");
    if (!lowers.empty()) dir = lowers[0];
  } else if (view[0].type == "bind") {
    dir = view[0].source;
  }
  return dir.ends_with("/fs") ? dir : "";
}

// Incremental COPY from the build context (copy_reuse.h): which copies qualify, the earlier
// result's files linked into the new upper dir, and the manifest of this copy.
class ReusePlan {
 public:
  // Null when the op does not qualify: one plain COPY from the context, onto an overlay
  // snapshot with a parent (its upper dir is `mounts`' upperdir).
  static std::unique_ptr<ReusePlan> For(const Worker& w, const std::vector<FileAction>& actions,
                                        const std::vector<InputRef>& inputs,
                                        const std::string& dest_parent,
                                        const std::string& definition,
                                        const std::vector<base::Mount>& mounts) {
    if (w.copy_reuse == nullptr || actions.size() != 1 || mounts.size() != 1) return nullptr;
    const FileAction& a = actions[0];
    if (a.kind != FileAction::Kind::kCopy || a.auto_extract || a.parents) return nullptr;
    if (a.source_input <= 0 || static_cast<size_t>(a.source_input) >= inputs.size()) {
      return nullptr;
    }
    auto* ctx = dynamic_cast<const ContextResult*>(inputs[a.source_input].result.get());
    if (ctx == nullptr || mounts[0].type != "overlay") return nullptr;
    std::vector<std::string> upper = base::OverlayOption(mounts[0], "upperdir");
    if (upper.size() != 1) return nullptr;
    auto plan = std::make_unique<ReusePlan>();
    plan->worker_ = &w;
    plan->key_ = CopyReuse::KeyOf(dest_parent, ctx->dir(), definition);
    plan->context_dir_ = ctx->dir();
    plan->upper_ = std::move(upper[0]);
    return plan;
  }

  // Links what the last result of this copy has unchanged. Best effort.
  void Prelink() {
    std::shared_ptr<const CopyManifest> prev = worker_->copy_reuse->Find(key_);
    if (prev == nullptr) return;
    // A view keeps the earlier result from being removed while its files are linked.
    std::string view_key = NewSnapshotKey("view");
    absl::StatusOr<std::vector<base::Mount>> view =
        worker_->snapshots->View(view_key, prev->snapshot);
    if (!view.ok()) {
      if (absl::IsNotFound(view.status())) worker_->copy_reuse->Forget(key_);
      return;
    }
    std::string layer = TopLayerOf(*view);
    base::UniqueFd src(::open(context_dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!layer.empty() && src) placed_ = CopyReuse::Prelink(src.get(), layer, upper_, *prev);
    (void)worker_->snapshots->Remove(view_key);
  }

  void Attach(CopyOptions& o) {
    o.reuse = [this](const std::string& dst_rel, const struct stat& st) {
      return CopyReuse::Reusable(placed_, dst_rel, st);
    };
    o.on_regular = [this](const std::string& dst_rel, const std::string& src_rel,
                          const struct stat& st) {
      manifest_.entries.push_back({dst_rel, src_rel, CopySourceId::Of(st)});
    };
  }

  // After the copy, with the snapshot unmounted: a linked file the walk never reached (its
  // source vanished meanwhile) is not part of this copy.
  void DropUnreached() {
    for (const auto& [rel, id] : placed_) (void)::unlink((upper_ + "/" + rel).c_str());
    placed_.clear();
  }

  void Record(const std::string& snapshot) {
    manifest_.snapshot = snapshot;
    (void)worker_->copy_reuse->Record(key_, std::move(manifest_));
  }

 private:
  const Worker* worker_ = nullptr;
  std::string key_, context_dir_, upper_;
  PrelinkedFiles placed_;
  CopyManifest manifest_;
};

}  // namespace

FileOp::FileOp(const Worker* worker, std::vector<FileAction> actions, std::string definition)
    : worker_(worker), actions_(std::move(actions)), definition_(std::move(definition)) {}

absl::StatusOr<cache::CopyContent> FileOp::CopyContentOf(const FileAction& a, size_t index,
                                                         const solver::Result& r) const {
  cache::CopyContent out;
  out.action = static_cast<int64_t>(index);
  // A committed snapshot never changes: its content for this copy is memoized, so a rebuild
  // neither mounts nor reads it.
  std::string memo_key;
  if (auto* snap = dynamic_cast<const SnapshotResult*>(&r);
      snap != nullptr && worker_->checksums != nullptr) {
    memo_key = SnapshotCopyKey(snap->snapshot(), definition_, index);
    if (std::optional<std::string> hit = worker_->checksums->FindSnapshotCopy(memo_key)) {
      if (!hit->empty()) out.parts = absl::StrSplit(*hit, '\n');
      return out;
    }
  }
  KILN_ASSIGN_OR_RETURN(auto src, OpenedSource::Open(*worker_, r));
  KILN_ASSIGN_OR_RETURN(std::vector<CopyOptions> copies, CopiesFor(a, src->fd()));
  for (const CopyOptions& o : copies) {
    std::string content;
    auto* ctx_result = dynamic_cast<const ContextResult*>(&r);
    // The persisted checksum cache keys on context-root paths; source-relative filters
    // (--exclude, --parents) hash what they select directly.
    if (ctx_result != nullptr && !o.exclude_in_source && !o.include) {
      KILN_ASSIGN_OR_RETURN(content,
                            ContextContentDigest(*worker_, ctx_result->dir(), src->fd(), o));
    } else {
      KILN_ASSIGN_OR_RETURN(content, HashSources(src->fd(), o));
    }
    out.parts.push_back(std::move(content));
  }
  if (!memo_key.empty()) {
    worker_->checksums->RecordSnapshotCopy(memo_key, absl::StrJoin(out.parts, "\n"));
  }
  return out;
}

absl::StatusOr<base::Digest> FileOp::CacheKey(solver::ExecContext&,
                                              const std::vector<InputRef>& inputs) const {
  if (inputs.empty()) return absl::InternalError("file op without a destination input");
  std::vector<cache::CopyContent> copies;
  for (size_t i = 0; i < actions_.size(); ++i) {
    const FileAction& a = actions_[i];
    if (a.kind != FileAction::Kind::kCopy) continue;
    if (a.source_input <= 0 || static_cast<size_t>(a.source_input) >= inputs.size()) {
      return absl::InternalError("file op: copy source input out of range");
    }
    KILN_ASSIGN_OR_RETURN(cache::CopyContent c,
                          CopyContentOf(a, i, *inputs[a.source_input].result));
    copies.push_back(std::move(c));
  }
  // Only the destination's key: sources are covered by their content (early cutoff).
  return cache::FileCacheKey(definition_, inputs[0].cache_key, copies);
}

absl::StatusOr<solver::ResultRef> FileOp::Exec(solver::ExecContext& ctx,
                                               const std::vector<InputRef>& inputs) const {
  auto* dest = dynamic_cast<const SnapshotResult*>(inputs.at(0).result.get());
  if (dest == nullptr) return absl::InternalError("file op: destination is not a snapshot");
  std::string key = NewSnapshotKey("file");
  KILN_ASSIGN_OR_RETURN(auto mounts, worker_->snapshots->Prepare(key, dest->snapshot()));
  std::unique_ptr<ReusePlan> reuse =
      ReusePlan::For(*worker_, actions_, inputs, dest->snapshot(), definition_, mounts);
  if (reuse != nullptr) reuse->Prelink();  // before the upper dir is mounted
  bool committed = false;
  auto cleanup = [&] {
    if (!committed) (void)worker_->snapshots->Remove(key);
  };
  absl::Status status = [&]() -> absl::Status {
    KILN_ASSIGN_OR_RETURN(MountedSnapshot mounted, MountedSnapshot::Mount(*worker_, mounts));
    KILN_ASSIGN_OR_RETURN(base::UniqueFd root, mounted.OpenRoot());
    for (const FileAction& a : actions_) {
      if (ctx.cancel().cancelled()) return absl::CancelledError("file op cancelled");
      std::optional<Owner> owner;
      if (!a.chown.empty()) {
        KILN_ASSIGN_OR_RETURN(owner, ResolveOwner(root.get(), a.chown));
      }
      switch (a.kind) {
        case FileAction::Kind::kMkdir:
          KILN_RETURN_IF_ERROR(MakeDirs(root.get(), a.path, a.mode.value_or(0755),
                                        owner ? std::optional<uid_t>(owner->uid) : std::nullopt,
                                        owner ? std::optional<gid_t>(owner->gid) : std::nullopt));
          break;
        case FileAction::Kind::kMkfile:
          KILN_RETURN_IF_ERROR(WriteFileInRoot(root.get(), a, owner));
          break;
        case FileAction::Kind::kCopy: {
          KILN_ASSIGN_OR_RETURN(auto src, OpenedSource::Open(*worker_, *inputs.at(a.source_input).result));
          KILN_ASSIGN_OR_RETURN(std::vector<CopyOptions> copies, CopiesFor(a, src->fd()));
          for (CopyOptions& o : copies) {
            if (owner) {
              o.uid = owner->uid;
              o.gid = owner->gid;
            }
            if (reuse != nullptr) reuse->Attach(o);
            KILN_ASSIGN_OR_RETURN(CopyStats stats, CopyFiles(src->fd(), root.get(), o));
            ctx.Progress(stats.bytes, stats.bytes);
          }
          break;
        }
      }
    }
    root.reset();
    KILN_RETURN_IF_ERROR(mounted.Unmount());
    if (reuse != nullptr) reuse->DropUnreached();
    return absl::OkStatus();
  }();
  if (!status.ok()) {
    cleanup();
    return status;
  }
  std::string name = NewSnapshotKey("s");
  absl::Status c = worker_->snapshots->Commit(name, key);
  if (!c.ok()) {
    cleanup();
    return c;
  }
  committed = true;
  if (reuse != nullptr) reuse->Record(name);
  return std::make_shared<SnapshotResult>(name);
}

}  // namespace kiln::engine
