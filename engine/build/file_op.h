// FileOp: COPY / ADD / WORKDIR as a solver op. Input 0 is the destination filesystem (a
// SnapshotResult, possibly scratch); the other inputs are copy sources (a ContextResult for
// the build context, or a SnapshotResult for `--from` a stage or image).
//
// Cache key: the op definition, the destination's cache key, and the CONTENT of the files each
// copy selects (after wildcards, excludes and --parents patterns; an ADD archive is keyed by
// its bytes) -- never the source input's cache key. So a builder stage rebuilt to identical
// bytes leaves the COPY --from (and all after it) cached.
#ifndef KILN_ENGINE_BUILD_FILE_OP_H_
#define KILN_ENGINE_BUILD_FILE_OP_H_

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "cache/cache_key.h"
#include "engine/build/worker.h"
#include "engine/solver/op.h"

namespace kiln::engine {

struct FileAction {
  enum class Kind { kMkdir, kCopy, kMkfile };
  Kind kind = Kind::kCopy;
  // kMkdir / kMkfile: the path; kCopy: the destination (a trailing '/' matters).
  std::string path;
  std::optional<mode_t> mode;       // kMkdir default 0755; kMkfile default 0644; kCopy: --chmod
  std::string mode_string;          // kCopy: a symbolic --chmod ("u+x,go=rx"); wins over `mode`
  std::string chown;                // "user[:group]" resolved in the destination rootfs
  // kCopy
  int source_input = 1;             // index into the op's inputs
  std::vector<std::string> sources;
  std::vector<std::string> context_excludes;  // .dockerignore: relative to the context root
  std::vector<std::string> excludes;  // --exclude: relative to each copied source
  bool preserve_owner = false;        // COPY --from without --chown
  bool allow_empty_wildcard = false;
  bool auto_extract = false;          // ADD: unpack local tar archives
  bool parents = false;               // COPY --parents (a "/./" in a source is the pivot)
  // kMkfile
  std::string data;
};

class FileOp : public solver::Op {
 public:
  // `definition` is the op's canonical bytes (graph::SerializeOp), which keys the vertex.
  FileOp(const Worker* worker, std::vector<FileAction> actions, std::string definition);
  absl::StatusOr<base::Digest> CacheKey(solver::ExecContext& ctx,
                                        const std::vector<solver::InputRef>& inputs) const override;
  absl::StatusOr<solver::ResultRef> Exec(solver::ExecContext& ctx,
                                         const std::vector<solver::InputRef>& inputs) const override;

 private:
  // The content that copy action `a` (at `index` in the actions) reads from source `r`.
  absl::StatusOr<cache::CopyContent> CopyContentOf(const FileAction& a, size_t index,
                                                   const solver::Result& r) const;

  const Worker* worker_;
  std::vector<FileAction> actions_;
  std::string definition_;
};

}  // namespace kiln::engine

#endif  // KILN_ENGINE_BUILD_FILE_OP_H_
