#include "engine/ops/file_op.h"

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
#include "engine/copy/context_checksums.h"
#include "engine/copy/copy.h"
#include "engine/copy/copy_parents.h"
#include "engine/copy/copy_reuse.h"
#include "engine/copy/excludes.h"
#include "engine/ops/results.h"
#include "engine/ops/rootfs_users.h"
#include "engine/ops/worker.h"

namespace kiln::engine {
namespace {

using graph::FileAction;
using solver::InputRef;

// A copy source opened for reading: the context dir, or a view of a stage snapshot.
class OpenedSource {
 public:
  static absl::StatusOr<std::unique_ptr<OpenedSource>> Open(const FileOpDeps& d,
                                                            const solver::Result& r) {
    auto out = std::make_unique<OpenedSource>();
    out->snapshots_ = d.snapshots;
    if (auto* ctx = dynamic_cast<const ContextResult*>(&r)) {
      out->fd_.reset(::open(ctx->dir().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
      if (!out->fd_) return base::ErrnoError(absl::StrCat("open build context '", ctx->dir(), "'"));
      return out;
    }
    auto* snap = dynamic_cast<const SnapshotResult*>(&r);
    if (snap == nullptr) return absl::InternalError("copy: unexpected source result type");
    out->view_key_ = NewSnapshotKey("view");
    KILN_ASSIGN_OR_RETURN(auto mounts, d.snapshots->View(out->view_key_, snap->snapshot()));
    KILN_ASSIGN_OR_RETURN(Tree tree, d.trees->Open(mounts));
    out->tree_ = std::make_unique<Tree>(std::move(tree));
    return out;
  }
  ~OpenedSource() {
    fd_.reset();
    if (tree_ != nullptr) (void)tree_->Close();
    if (!view_key_.empty()) (void)snapshots_->Remove(view_key_);
  }
  int fd() const { return tree_ != nullptr ? tree_->fd() : fd_.get(); }

 private:
  snapshotter::Snapshotter* snapshots_ = nullptr;
  std::string view_key_;
  std::unique_ptr<Tree> tree_;  // a snapshot's view
  base::UniqueFd fd_;           // the context
};

// "user[:group]" of --chown, resolved later in the destination's /etc files.
std::string ChownSpec(const std::optional<graph::Chown>& c) {
  if (!c) return "";
  return c->group.empty() ? c->user : c->user + ":" + c->group;
}

// Copy options of `a` reading from `src`: the build context (its .dockerignore applies and
// files go to 0:0) or a snapshot (owners are kept).
absl::StatusOr<CopyOptions> OptionsFor(const FileAction& a, const solver::Result& src) {
  auto* ctx = dynamic_cast<const ContextResult*>(&src);
  CopyOptions o;
  o.sources = a.src_paths;
  o.dest = a.path;
  if (a.mode) o.mode = static_cast<mode_t>(*a.mode);
  if (!a.mode_string.empty()) {
    KILN_ASSIGN_OR_RETURN(ChmodSpec spec, ChmodSpec::Parse(a.mode_string));
    o.chmod = std::move(spec);
  }
  o.preserve_owner = ctx == nullptr;
  o.allow_empty_wildcard = a.allow_empty_wildcard;
  o.auto_extract = a.auto_extract;
  KILN_ASSIGN_OR_RETURN(
      o.exclude, MakeExcludeFn(ctx != nullptr ? ctx->excludes() : std::vector<std::string>{}));
  KILN_ASSIGN_OR_RETURN(o.exclude_in_source, MakeExcludeFn(a.excludes));
  return o;
}

// The CopyFiles calls one copy action makes: one, or (COPY --parents) one per source, from
// its pivot with the source's pattern as the include filter.
absl::StatusOr<std::vector<CopyOptions>> CopiesFor(const FileAction& a, const solver::Result& src,
                                                   int src_root_fd) {
  KILN_ASSIGN_OR_RETURN(CopyOptions base, OptionsFor(a, src));
  if (!a.parents) return std::vector<CopyOptions>{std::move(base)};
  std::vector<CopyOptions> out;
  for (const std::string& src : a.src_paths) {
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

// Content digest of a copy from the build context through the persisted checksum cache: a
// no-op rebuild stats the selected files and reads none. HashSources when the cache cannot
// describe the copy (ChecksumCopy).
absl::StatusOr<std::string> ContextContentDigest(ContextChecksums* checksums,
                                                 const std::string& context_dir, int fd,
                                                 const CopyOptions& o) {
  if (checksums == nullptr) return HashSources(fd, o);
  KILN_ASSIGN_OR_RETURN(cache::ChecksumCache * cc, checksums->For(context_dir));
  KILN_ASSIGN_OR_RETURN(std::optional<cache::ChecksumResult> r, ChecksumCopy(*cc, fd, o));
  if (!r) return HashSources(fd, o);
  return "ctx:" + r->combined.hex();
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
  if (::fchmod(fd.get(), static_cast<mode_t>(a.mode.value_or(0644))) != 0) {
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
  // `source` is the index of the copy's source in `inputs`.
  static std::unique_ptr<ReusePlan> For(const FileOpDeps& d, const std::vector<FileAction>& actions,
                                        size_t source, const std::vector<InputRef>& inputs,
                                        const std::string& dest_parent,
                                        const std::string& definition,
                                        const std::vector<base::Mount>& mounts) {
    if (d.copy_reuse == nullptr || actions.size() != 1 || mounts.size() != 1) return nullptr;
    const FileAction& a = actions[0];
    if (a.kind != FileAction::Kind::kCopy || a.auto_extract || a.parents) return nullptr;
    if (source == 0 || source >= inputs.size()) return nullptr;
    auto* ctx = dynamic_cast<const ContextResult*>(inputs[source].result.get());
    if (ctx == nullptr || mounts[0].type != "overlay") return nullptr;
    std::vector<std::string> upper = base::OverlayOption(mounts[0], "upperdir");
    if (upper.size() != 1) return nullptr;
    auto plan = std::make_unique<ReusePlan>();
    plan->deps_ = &d;
    plan->key_ = CopyReuse::KeyOf(dest_parent, ctx->dir(), definition);
    plan->context_dir_ = ctx->dir();
    plan->upper_ = std::move(upper[0]);
    return plan;
  }

  // Links what the last result of this copy has unchanged. Best effort.
  void Prelink() {
    std::shared_ptr<const CopyManifest> prev = deps_->copy_reuse->Find(key_);
    if (prev == nullptr) return;
    // A view keeps the earlier result from being removed while its files are linked.
    std::string view_key = NewSnapshotKey("view");
    absl::StatusOr<std::vector<base::Mount>> view =
        deps_->snapshots->View(view_key, prev->snapshot);
    if (!view.ok()) {
      if (absl::IsNotFound(view.status())) deps_->copy_reuse->Forget(key_);
      return;
    }
    std::string layer = TopLayerOf(*view);
    base::UniqueFd src(::open(context_dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!layer.empty() && src) placed_ = CopyReuse::Prelink(src.get(), layer, upper_, *prev);
    (void)deps_->snapshots->Remove(view_key);
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
    (void)deps_->copy_reuse->Record(key_, std::move(manifest_));
  }

 private:
  const FileOpDeps* deps_ = nullptr;
  std::string key_, context_dir_, upper_;
  PrelinkedFiles placed_;
  CopyManifest manifest_;
};

}  // namespace

size_t FileOp::SourceIndex(const FileAction& a) const {
  return static_cast<size_t>(a.src_input + (op_.has_base ? 0 : 1));
}

absl::StatusOr<cache::CopyContent> FileOp::CopyContentOf(const FileAction& a, size_t index,
                                                         const solver::Result& r) const {
  cache::CopyContent out;
  out.action = static_cast<int64_t>(index);
  // A committed snapshot never changes: its content for this copy is memoized, so a rebuild
  // neither mounts nor reads it.
  std::string memo_key;
  if (auto* snap = dynamic_cast<const SnapshotResult*>(&r);
      snap != nullptr && deps_.checksums != nullptr) {
    memo_key = SnapshotCopyKey(snap->snapshot(), definition_, index);
    if (std::optional<std::string> hit = deps_.checksums->FindSnapshotCopy(memo_key)) {
      if (!hit->empty()) out.parts = absl::StrSplit(*hit, '\n');
      return out;
    }
  }
  KILN_ASSIGN_OR_RETURN(auto src, OpenedSource::Open(deps_, r));
  KILN_ASSIGN_OR_RETURN(std::vector<CopyOptions> copies, CopiesFor(a, r, src->fd()));
  for (const CopyOptions& o : copies) {
    std::string content;
    auto* ctx_result = dynamic_cast<const ContextResult*>(&r);
    // The persisted checksum cache keys on context-root paths; source-relative filters
    // (--exclude, --parents) hash what they select directly.
    if (ctx_result != nullptr && !o.exclude_in_source && !o.include) {
      KILN_ASSIGN_OR_RETURN(content,
                            ContextContentDigest(deps_.checksums, ctx_result->dir(), src->fd(), o));
    } else {
      KILN_ASSIGN_OR_RETURN(content, HashSources(src->fd(), o));
    }
    out.parts.push_back(std::move(content));
  }
  if (!memo_key.empty()) {
    deps_.checksums->RecordSnapshotCopy(memo_key, absl::StrJoin(out.parts, "\n"));
  }
  return out;
}

absl::StatusOr<base::Digest> FileOp::CacheKey(solver::ExecContext&,
                                              const std::vector<InputRef>& inputs) const {
  if (inputs.empty()) return absl::InternalError("file op without a destination input");
  std::vector<cache::CopyContent> copies;
  for (size_t i = 0; i < op_.actions.size(); ++i) {
    const FileAction& a = op_.actions[i];
    if (a.kind != FileAction::Kind::kCopy) continue;
    size_t source = SourceIndex(a);
    if (a.src_input < 0 || source == 0 || source >= inputs.size()) {
      return absl::InternalError("file op: copy source input out of range");
    }
    KILN_ASSIGN_OR_RETURN(cache::CopyContent c, CopyContentOf(a, i, *inputs[source].result));
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
  snapshotter::Snapshotter& snapshots = *deps_.snapshots;
  KILN_ASSIGN_OR_RETURN(auto mounts, snapshots.Prepare(key, dest->snapshot()));
  size_t first_source = op_.actions.empty() ? 0 : SourceIndex(op_.actions[0]);
  std::unique_ptr<ReusePlan> reuse = ReusePlan::For(deps_, op_.actions, first_source, inputs,
                                                    dest->snapshot(), definition_, mounts);
  if (reuse != nullptr) reuse->Prelink();  // before the upper dir is mounted
  bool committed = false;
  auto cleanup = [&] {
    if (!committed) (void)snapshots.Remove(key);
  };
  absl::Status status = [&]() -> absl::Status {
    KILN_ASSIGN_OR_RETURN(Tree root, deps_.trees->Open(mounts));
    for (const FileAction& a : op_.actions) {
      if (ctx.cancel().cancelled()) return absl::CancelledError("file op cancelled");
      std::optional<Owner> owner;
      if (a.chown) {
        KILN_ASSIGN_OR_RETURN(owner, ResolveOwner(root.fd(), ChownSpec(a.chown)));
      }
      switch (a.kind) {
        case FileAction::Kind::kMkdir:
          KILN_RETURN_IF_ERROR(MakeDirs(root.fd(), a.path,
                                        static_cast<mode_t>(a.mode.value_or(0755)),
                                        owner ? std::optional<uid_t>(owner->uid) : std::nullopt,
                                        owner ? std::optional<gid_t>(owner->gid) : std::nullopt));
          break;
        case FileAction::Kind::kMkfile:
          KILN_RETURN_IF_ERROR(WriteFileInRoot(root.fd(), a, owner));
          break;
        case FileAction::Kind::kCopy: {
          const solver::Result& from = *inputs.at(SourceIndex(a)).result;
          KILN_ASSIGN_OR_RETURN(auto src, OpenedSource::Open(deps_, from));
          KILN_ASSIGN_OR_RETURN(std::vector<CopyOptions> copies, CopiesFor(a, from, src->fd()));
          for (CopyOptions& o : copies) {
            if (owner) {
              o.uid = owner->uid;
              o.gid = owner->gid;
            }
            if (reuse != nullptr) reuse->Attach(o);
            KILN_ASSIGN_OR_RETURN(CopyStats stats, CopyFiles(src->fd(), root.fd(), o));
            ctx.Progress(stats.bytes, stats.bytes);
          }
          break;
        }
        case FileAction::Kind::kRm:
          return absl::UnimplementedError("file op: removing files is not supported yet");
      }
    }
    KILN_RETURN_IF_ERROR(root.Close());
    if (reuse != nullptr) reuse->DropUnreached();
    return absl::OkStatus();
  }();
  if (!status.ok()) {
    cleanup();
    return status;
  }
  std::string name = NewSnapshotKey("s");
  absl::Status c = snapshots.Commit(name, key);
  if (!c.ok()) {
    cleanup();
    return c;
  }
  committed = true;
  if (reuse != nullptr) reuse->Record(name);
  return std::make_shared<SnapshotResult>(name);
}

absl::StatusOr<OpRef> FileOp::Create(const graph::FileOp& f, const OpSite& site, FileOpDeps deps) {
  for (const FileAction& a : f.actions) {
    if (a.kind == FileAction::Kind::kRm) return site.Unsupported("removing files in a file op");
    if (!a.mode_string.empty()) {
      if (absl::Status s = ChmodSpec::Parse(a.mode_string).status(); !s.ok()) {
        return site.Invalid(std::string_view(s.message().data(), s.message().size()));
      }
    }
    size_t inputs = site.vertex->inputs.size() + (f.has_base ? 0 : 1);
    if (a.kind == FileAction::Kind::kCopy &&
        (a.src_input < 0 || a.src_input + (f.has_base ? 0 : 1) == 0 ||
         static_cast<size_t>(a.src_input) + (f.has_base ? 0 : 1) >= inputs)) {
      return absl::InternalError(absl::StrCat(site.Where(), ": copy source input out of range"));
    }
  }
  return std::make_shared<FileOp>(f, graph::SerializeOp(site.vertex->op), std::move(deps));
}

void RegisterFileOp(OpFactory* factory, FileOpDeps deps) {
  factory->Register<graph::FileOp>(
      OpKind::kFile, [deps = std::move(deps)](const graph::FileOp& f, const OpSite& site) {
        return FileOp::Create(f, site, deps);
      });
}

}  // namespace kiln::engine
