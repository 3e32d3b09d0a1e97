#include "engine/ops/source_ops.h"

#include <memory>
#include <utility>
#include <vector>

#include "cache/cache_key.h"
#include "engine/ops/image_source_op.h"
#include "engine/ops/results.h"

namespace kiln::engine {
namespace {

class ScratchOp : public solver::Op {
 public:
  absl::StatusOr<base::Digest> CacheKey(solver::ExecContext&,
                                        const std::vector<solver::InputRef>&) const override {
    return cache::ScratchCacheKey();
  }
  absl::StatusOr<solver::ResultRef> Exec(solver::ExecContext&,
                                         const std::vector<solver::InputRef>&) const override {
    return std::make_shared<SnapshotResult>("");
  }
};

// The build context, read in place. Its key is only its definition: copies from it key on the
// content they read, never on this.
class ContextOp : public solver::Op {
 public:
  ContextOp(std::string def, std::string dir, std::vector<std::string> excludes)
      : def_(std::move(def)), dir_(std::move(dir)), excludes_(std::move(excludes)) {}
  absl::StatusOr<base::Digest> CacheKey(solver::ExecContext&,
                                        const std::vector<solver::InputRef>&) const override {
    return cache::LocalSourceCacheKey(def_);
  }
  absl::StatusOr<solver::ResultRef> Exec(solver::ExecContext&,
                                         const std::vector<solver::InputRef>&) const override {
    return std::make_shared<ContextResult>(dir_, excludes_);
  }

 private:
  std::string def_;
  std::string dir_;
  std::vector<std::string> excludes_;  // the context's .dockerignore patterns
};

}  // namespace

void RegisterSourceOps(OpFactory* factory, std::string context_dir) {
  factory->Register<graph::SourceOp>(
      OpKind::kScratch, [](const graph::SourceOp&, const OpSite&) -> absl::StatusOr<OpRef> {
        return std::make_shared<ScratchOp>();
      });
  factory->Register<graph::SourceOp>(
      OpKind::kLocal,
      [dir = std::move(context_dir)](const graph::SourceOp& s,
                                     const OpSite& site) -> absl::StatusOr<OpRef> {
        return std::make_shared<ContextOp>(graph::SerializeOp(site.vertex->op), dir,
                                           s.exclude_patterns);
      });
  factory->Register<graph::SourceOp>(
      OpKind::kHttp, [](const graph::SourceOp&, const OpSite& site) -> absl::StatusOr<OpRef> {
        return site.Unsupported("ADD from a URL (this machine has no network)");
      });
  factory->Register<graph::SourceOp>(
      OpKind::kGit, [](const graph::SourceOp&, const OpSite& site) -> absl::StatusOr<OpRef> {
        return site.Unsupported("ADD from a git repository");
      });
}

void RegisterImageSourceOp(OpFactory* factory, const Worker* worker, LayerStore* layers) {
  factory->Register<graph::SourceOp>(
      OpKind::kImage,
      [worker, layers](const graph::SourceOp& s, const OpSite&) -> absl::StatusOr<OpRef> {
        return std::make_shared<ImageSourceOp>(worker, layers, s.ref, s.manifest_digest);
      });
}

}  // namespace kiln::engine
