#include "snapshotter/overlay_snapshotter.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/fs.h"
#include "base/status.h"
#include "base/userns.h"
#include "snapshotter/tree_copy.h"

namespace kiln::snapshotter {
namespace {

base::Mount Bind(const std::string& source, bool read_only) {
  base::Mount m{"bind", source, {"rbind"}};
  if (read_only) m.options.push_back("ro");
  return m;
}

}  // namespace

OverlaySnapshotter::OverlaySnapshotter(std::string root, LocalSnapshotterOptions options,
                                       bool userxattr)
    : LocalSnapshotter(std::move(root), options),
      userxattr_(userxattr),
      max_lower_dirs_(std::clamp(options.max_lower_dirs, 1, base::kMaxOverlayLowerDirs - 1)) {}

absl::StatusOr<std::unique_ptr<OverlaySnapshotter>> OverlaySnapshotter::Open(
    const std::string& root, const LocalSnapshotterOptions& options) {
  std::unique_ptr<OverlaySnapshotter> s(
      new OverlaySnapshotter(root, options, base::InUserNamespace()));
  KILN_RETURN_IF_ERROR(s->Init());
  return s;
}

std::string OverlaySnapshotter::StackDir(const SnapshotRecord& record) const {
  return absl::StrCat(record.id, record.flattened ? "/flat" : "/fs");
}

absl::Status OverlaySnapshotter::CreateLayer(uint64_t id, Kind kind,
                                             const std::vector<std::string>& parent_stack) {
  std::string dir = SnapshotDir(id);
  KILN_RETURN_IF_ERROR(base::MkdirAll(dir, 0700));
  KILN_RETURN_IF_ERROR(base::MkdirAll(dir + "/fs", 0755));
  if (kind == Kind::kActive && !parent_stack.empty()) {
    KILN_RETURN_IF_ERROR(base::MkdirAll(dir + "/work", 0700));
  }
  return absl::OkStatus();
}

std::vector<base::Mount> OverlaySnapshotter::MountsFor(
    const SnapshotRecord& record, const std::vector<std::string>& parent_stack) {
  std::string dir = SnapshotDir(record.id);
  bool view = record.info.kind == Kind::kView;
  if (parent_stack.empty()) return {Bind(dir + "/fs", view)};
  if (view && parent_stack.size() == 1) return {Bind(parent_stack[0], true)};
  base::Mount m{"overlay", "overlay", {}};
  m.options.reserve(parent_stack.size() + 4);
  for (const std::string& lower : parent_stack) m.options.push_back("lowerdir+=" + lower);
  if (view) {
    m.options.push_back("ro");
  } else {
    m.options.push_back(absl::StrCat("upperdir=", dir, "/fs"));
    m.options.push_back(absl::StrCat("workdir=", dir, "/work"));
  }
  // Layers must hold complete files and no redirects whatever the module defaults are:
  // flattening and layer diffs read the upper dirs directly.
  m.options.insert(m.options.end(), {"index=off", "redirect_dir=nofollow", "metacopy=off"});
  if (userxattr_) m.options.push_back("userxattr");
  return {m};
}

absl::Status OverlaySnapshotter::Flatten(uint64_t id, const std::vector<std::string>& layers) {
  KILN_ASSIGN_OR_RETURN(base::UniqueFd dir, internal::OpenDir(SnapshotDir(id)));
  KILN_RETURN_IF_ERROR(base::RemoveTreeAt(dir.get(), "flat"));
  if (::mkdirat(dir.get(), "flat", 0755) != 0) {
    return base::ErrnoError(absl::StrCat("mkdir '", SnapshotDir(id), "/flat'"));
  }
  absl::Status s = [&]() -> absl::Status {
    KILN_ASSIGN_OR_RETURN(base::UniqueFd flat, internal::OpenDir(SnapshotDir(id) + "/flat"));
    for (auto it = layers.rbegin(); it != layers.rend(); ++it) {
      KILN_ASSIGN_OR_RETURN(base::UniqueFd layer, internal::OpenDir(*it));
      absl::StatusOr<internal::CopyStats> stats =
          internal::CopyTree(layer.get(), flat.get(), {.overlay_layer = true});
      if (!stats.ok()) {
        return base::Annotate(stats.status(), absl::StrCat("flatten layer '", *it, "'"));
      }
    }
    return absl::OkStatus();
  }();
  if (!s.ok()) (void)base::RemoveTreeAt(dir.get(), "flat");
  return s;
}

absl::Status OverlaySnapshotter::PrepareCommit(SnapshotRecord& record,
                                               const std::vector<std::string>& parent_stack) {
  if (record.depth > static_cast<uint32_t>(max_lower_dirs_)) {
    std::vector<std::string> layers;
    layers.reserve(parent_stack.size() + 1);
    layers.push_back(SnapshotDir(record.id) + "/fs");
    layers.insert(layers.end(), parent_stack.begin(), parent_stack.end());
    KILN_RETURN_IF_ERROR(Flatten(record.id, layers));
    record.flattened = true;
    record.depth = 1;
  }
  return absl::OkStatus();
}

void OverlaySnapshotter::Committed(const SnapshotRecord& record) {
  // The work dir is not needed once committed; RecoverLayer retries if this fails. Overlay
  // leaves only an empty work/work behind, so two rmdirs usually do it.
  std::string work = SnapshotDir(record.id) + "/work";
  if (::rmdir((work + "/work").c_str()) == 0 && ::rmdir(work.c_str()) == 0) return;
  absl::StatusOr<base::UniqueFd> fd = internal::OpenDir(SnapshotDir(record.id));
  if (fd.ok()) (void)base::RemoveTreeAt(fd->get(), "work");
}

absl::Status OverlaySnapshotter::RecoverLayer(const SnapshotRecord& record) {
  std::string dir = SnapshotDir(record.id);
  KILN_ASSIGN_OR_RETURN(base::UniqueFd fd, internal::OpenDir(dir));
  if (!record.flattened) KILN_RETURN_IF_ERROR(base::RemoveTreeAt(fd.get(), "flat"));
  if (record.info.kind == Kind::kActive && !record.info.parent.empty()) {
    KILN_RETURN_IF_ERROR(base::MkdirAll(dir + "/work", 0700));
  }
  if (record.info.kind == Kind::kCommitted) {
    KILN_RETURN_IF_ERROR(base::RemoveTreeAt(fd.get(), "work"));
  }
  return absl::OkStatus();
}

}  // namespace kiln::snapshotter
