// FileOp: COPY / ADD / WORKDIR as a solver op, made by the OpFactory from a graph::FileOp and
// reading its graph::FileActions directly. Input 0 is the destination filesystem (a
// SnapshotResult, possibly the shared scratch the factory puts in front of a file op without
// a base); the other inputs are copy sources (a ContextResult for the build context, or a
// SnapshotResult for `--from` a stage or image). A copy from the context applies the
// context's .dockerignore and gives files to 0:0; a copy from a snapshot keeps their owners
// (unless --chown).
//
// Cache key: the op definition, the destination's cache key, and the CONTENT of the files each
// copy selects (after wildcards, excludes and --parents patterns; an ADD archive is keyed by
// its bytes) -- never the source input's cache key. So a builder stage rebuilt to identical
// bytes leaves the COPY --from (and all after it) cached.
#ifndef KILN_ENGINE_OPS_FILE_OP_H_
#define KILN_ENGINE_OPS_FILE_OP_H_

#include <string>
#include <vector>

#include "cache/cache_key.h"
#include "engine/graph/op.h"
#include "engine/ops/op_factory.h"
#include "engine/ops/tree_access.h"
#include "engine/solver/op.h"
#include "snapshotter/snapshotter.h"

namespace kiln::engine {

class ContextChecksums;
class CopyReuse;

// What a file op uses of the engine. Pointers are borrowed and outlive every op.
struct FileOpDeps {
  snapshotter::Snapshotter* snapshots = nullptr;  // destination and --from snapshots
  const TreeAccess* trees = nullptr;              // their trees
  ContextChecksums* checksums = nullptr;  // persisted checksums and --from memos; may be null
  CopyReuse* copy_reuse = nullptr;        // incremental COPY from the context; may be null
};

class FileOp : public solver::Op {
 public:
  // The op for `f` at `site`. InvalidArgument naming the Dockerfile line for a bad --chmod
  // and for actions this engine does not run (removing files).
  static absl::StatusOr<OpRef> Create(const graph::FileOp& f, const OpSite& site, FileOpDeps deps);
  // Without validation (tests). `definition` is the op's canonical bytes (graph::SerializeOp),
  // which key the vertex.
  FileOp(graph::FileOp op, std::string definition, FileOpDeps deps)
      : op_(std::move(op)), definition_(std::move(definition)), deps_(std::move(deps)) {}

  absl::StatusOr<base::Digest> CacheKey(solver::ExecContext& ctx,
                                        const std::vector<solver::InputRef>& inputs) const override;
  absl::StatusOr<solver::ResultRef> Exec(
      solver::ExecContext& ctx, const std::vector<solver::InputRef>& inputs) const override;

 private:
  // The index in the op's inputs of copy action `a`'s source (the scratch the factory puts
  // first shifts a base-less op's inputs by one).
  size_t SourceIndex(const graph::FileAction& a) const;
  // The content that copy action `a` (at `index` in the actions) reads from source `r`.
  absl::StatusOr<cache::CopyContent> CopyContentOf(const graph::FileAction& a, size_t index,
                                                   const solver::Result& r) const;

  graph::FileOp op_;
  std::string definition_;
  FileOpDeps deps_;
};

// Registers FileOp::Create for OpKind::kFile.
void RegisterFileOp(OpFactory* factory, FileOpDeps deps);

}  // namespace kiln::engine

#endif  // KILN_ENGINE_OPS_FILE_OP_H_
