#include "snapshotter/native_snapshotter.h"

#include <sys/stat.h>

#include <cerrno>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/fs.h"
#include "base/status.h"
#include "snapshotter/tree_copy.h"

namespace kiln::snapshotter {

absl::StatusOr<std::unique_ptr<NativeSnapshotter>> NativeSnapshotter::Open(
    const std::string& root, const LocalSnapshotterOptions& options) {
  std::unique_ptr<NativeSnapshotter> s(new NativeSnapshotter(root, options));
  KILN_RETURN_IF_ERROR(s->Init());
  return s;
}

std::string NativeSnapshotter::StackDir(const SnapshotRecord& record) const {
  return absl::StrCat(record.id, "/fs");
}

absl::Status NativeSnapshotter::CreateLayer(uint64_t id, Kind kind,
                                            const std::vector<std::string>& parent_stack) {
  std::string dir = SnapshotDir(id);
  KILN_RETURN_IF_ERROR(base::MkdirAll(dir, 0700));
  KILN_RETURN_IF_ERROR(base::MkdirAll(dir + "/fs", 0755));
  if (kind != Kind::kActive || parent_stack.empty()) return absl::OkStatus();
  KILN_ASSIGN_OR_RETURN(base::UniqueFd src, internal::OpenDir(parent_stack[0]));
  KILN_ASSIGN_OR_RETURN(base::UniqueFd dst, internal::OpenDir(dir + "/fs"));
  absl::StatusOr<internal::CopyStats> stats = internal::CopyTree(src.get(), dst.get(), {});
  if (!stats.ok()) {
    return base::Annotate(stats.status(),
                          absl::StrCat("copy '", parent_stack[0], "' to '", dir, "/fs'"));
  }
  return absl::OkStatus();
}

std::vector<base::Mount> NativeSnapshotter::MountsFor(
    const SnapshotRecord& record, const std::vector<std::string>& parent_stack) {
  bool view = record.info.kind == Kind::kView;
  std::string source = view && !parent_stack.empty() ? parent_stack[0]
                                                     : SnapshotDir(record.id) + "/fs";
  base::Mount m{"bind", source, {"rbind"}};
  if (view) m.options.push_back("ro");
  return {m};
}

absl::Status NativeSnapshotter::PrepareCommit(SnapshotRecord& record,
                                              const std::vector<std::string>& /*parent_stack*/) {
  // Every committed tree is complete on its own: children copy only it.
  record.flattened = true;
  record.depth = 1;
  return absl::OkStatus();
}

absl::Status NativeSnapshotter::RecoverLayer(const SnapshotRecord& /*record*/) {
  return absl::OkStatus();
}

}  // namespace kiln::snapshotter
