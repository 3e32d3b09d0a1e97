#include "engine/build/converter.h"

#include <variant>

#include "absl/strings/str_cat.h"
#include "base/status.h"
#include "cache/cache_key.h"
#include "engine/build/exec_op.h"
#include "engine/build/file_op.h"
#include "engine/build/image_source_op.h"
#include "engine/build/results.h"
#include "engine/graph/op.h"
#include "engine/ops/copy_mode.h"

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


std::string ChownSpec(const std::optional<graph::Chown>& c) {
  if (!c) return "";
  return c->group.empty() ? c->user : c->user + ":" + c->group;
}

}  // namespace

absl::Status UnsupportedStep(const ConvertContext& ctx, const graph::Vertex& v, std::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(ctx.dockerfile_name, ":", v.meta.line, ": ",
                                                 base::AsAbsl(what), " is not supported yet"));
}

absl::StatusOr<std::vector<solver::VertexRef>> ConvertGraph(const graph::Graph& g,
                                                           const ConvertContext& ctx) {
  std::vector<solver::VertexRef> out;
  out.reserve(g.size());
  solver::VertexRef scratch;  // shared empty-tree input for FileOps without a base
  for (const graph::Vertex& v : g.vertices()) {
    std::vector<solver::VertexRef> inputs;
    for (graph::VertexId id : v.inputs) inputs.push_back(out.at(id));
    std::shared_ptr<const solver::Op> op;
    if (const auto* s = std::get_if<graph::SourceOp>(&v.op)) {
      switch (s->kind) {
        case graph::SourceOp::Kind::kImage:
          op = std::make_shared<ImageSourceOp>(ctx.worker, ctx.layers, s->ref, s->manifest_digest);
          break;
        case graph::SourceOp::Kind::kScratch:
          op = std::make_shared<ScratchOp>();
          break;
        case graph::SourceOp::Kind::kLocal:
          op = std::make_shared<ContextOp>(graph::SerializeOp(v.op), ctx.context_dir,
                                           s->exclude_patterns);
          break;
        case graph::SourceOp::Kind::kHttp:
          return UnsupportedStep(ctx, v, "ADD from a URL (this machine has no network)");
        case graph::SourceOp::Kind::kGit:
          return UnsupportedStep(ctx, v, "ADD from a git repository");
      }
    } else if (const auto* e = std::get_if<graph::ExecOp>(&v.op)) {
      KILN_ASSIGN_OR_RETURN(op, ConvertExecOp(*e, v, ctx));
    } else if (const auto* f = std::get_if<graph::FileOp>(&v.op)) {
      int shift = 0;
      if (!f->has_base) {
        if (!scratch) {
          graph::SourceOp so;
          so.kind = graph::SourceOp::Kind::kScratch;
          graph::Op sop = so;
          KILN_ASSIGN_OR_RETURN(
              scratch,
              solver::Vertex::Create(graph::VertexDigest(sop, {}), std::make_shared<ScratchOp>(),
                                     {}, solver::VertexDisplay{"scratch", {}}));
        }
        inputs.insert(inputs.begin(), scratch);
        shift = 1;
      }
      std::vector<FileAction> actions;
      for (const graph::FileAction& a : f->actions) {
        FileAction fa;
        fa.path = a.path;
        fa.mode = a.mode;
        fa.chown = ChownSpec(a.chown);
        if (!a.mode_string.empty()) {
          if (absl::Status s = ChmodSpec::Parse(a.mode_string).status(); !s.ok()) {
            return absl::InvalidArgumentError(
                absl::StrCat(ctx.dockerfile_name, ":", v.meta.line, ": ", s.message()));
          }
          fa.mode_string = a.mode_string;
        }
        switch (a.kind) {
          case graph::FileAction::Kind::kMkdir:
            fa.kind = FileAction::Kind::kMkdir;
            break;
          case graph::FileAction::Kind::kMkfile:
            fa.kind = FileAction::Kind::kMkfile;
            fa.data = a.data;
            break;
          case graph::FileAction::Kind::kRm:
            return UnsupportedStep(ctx, v, "removing files in a file op");
          case graph::FileAction::Kind::kCopy: {
            fa.kind = FileAction::Kind::kCopy;
            fa.parents = a.parents;
            fa.auto_extract = a.auto_extract;
            fa.source_input = a.src_input + shift;
            fa.sources = a.src_paths;
            fa.excludes = a.excludes;
            fa.allow_empty_wildcard = a.allow_empty_wildcard;
            const graph::Vertex& src = g.vertex(v.inputs.at(static_cast<size_t>(a.src_input)));
            const auto* src_source = std::get_if<graph::SourceOp>(&src.op);
            bool from_context = src_source != nullptr && src_source->kind == graph::SourceOp::Kind::kLocal;
            if (from_context) fa.context_excludes = src_source->exclude_patterns;
            fa.preserve_owner = !from_context;
            break;
          }
        }
        actions.push_back(std::move(fa));
      }
      op = std::make_shared<FileOp>(ctx.worker, std::move(actions), graph::SerializeOp(v.op));
    } else {
      return absl::InternalError("unknown op kind");
    }
    solver::VertexDisplay display;
    display.name = v.meta.step.empty() ? (v.meta.description.empty() ? v.meta.instruction
                                                                     : v.meta.description)
                                       : absl::StrCat(v.meta.step, " ", v.meta.instruction);
    if (v.meta.line > 0) {
      display.fields["dockerfile"] = ctx.dockerfile_name;
      display.fields["dockerfile.line"] = std::to_string(v.meta.line);
    }
    display.fields["stage"] = v.meta.stage;
    display.fields["instruction"] = v.meta.instruction;
    KILN_ASSIGN_OR_RETURN(solver::VertexRef sv,
                          solver::Vertex::Create(v.digest, std::move(op), std::move(inputs),
                                                 std::move(display)));
    out.push_back(std::move(sv));
  }
  return out;
}

}  // namespace kiln::engine
