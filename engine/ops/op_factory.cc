#include "engine/ops/op_factory.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "base/status.h"

namespace kiln::engine {

OpKind KindOf(const graph::Op& op) {
  if (const auto* s = std::get_if<graph::SourceOp>(&op)) {
    switch (s->kind) {
      case graph::SourceOp::Kind::kImage:
        return OpKind::kImage;
      case graph::SourceOp::Kind::kScratch:
        return OpKind::kScratch;
      case graph::SourceOp::Kind::kLocal:
        return OpKind::kLocal;
      case graph::SourceOp::Kind::kHttp:
        return OpKind::kHttp;
      case graph::SourceOp::Kind::kGit:
        return OpKind::kGit;
    }
  }
  return std::holds_alternative<graph::ExecOp>(op) ? OpKind::kExec : OpKind::kFile;
}

std::string_view OpKindName(OpKind kind) {
  switch (kind) {
    case OpKind::kImage:
      return "image source";
    case OpKind::kScratch:
      return "scratch";
    case OpKind::kLocal:
      return "local source";
    case OpKind::kHttp:
      return "http source";
    case OpKind::kGit:
      return "git source";
    case OpKind::kExec:
      return "exec";
    case OpKind::kFile:
      return "file";
  }
  return "unknown";
}

std::string OpSite::Where() const {
  return absl::StrCat(dockerfile, ":", vertex == nullptr ? 0 : vertex->meta.line);
}

absl::Status OpSite::Invalid(std::string_view what) const {
  return absl::InvalidArgumentError(absl::StrCat(Where(), ": ", base::AsAbsl(what)));
}

absl::Status OpSite::Unsupported(std::string_view what) const {
  return absl::InvalidArgumentError(
      absl::StrCat(Where(), ": ", base::AsAbsl(what), " is not supported yet"));
}

void OpFactory::Register(OpKind kind, Constructor make) {
  make_[static_cast<size_t>(kind)] = std::move(make);
}

absl::StatusOr<OpRef> OpFactory::Make(const OpSite& site) const {
  OpKind kind = KindOf(site.vertex->op);
  const Constructor& make = make_[static_cast<size_t>(kind)];
  if (!make)
    return site.Unsupported(absl::StrCat("a step of kind '", base::AsAbsl(OpKindName(kind)), "'"));
  KILN_ASSIGN_OR_RETURN(OpRef op, make(site.vertex->op, site));
  if (op == nullptr) return absl::InternalError(absl::StrCat(site.Where(), ": no op made"));
  return op;
}

namespace {

solver::VertexDisplay DisplayOf(const graph::Vertex& v, std::string_view dockerfile) {
  solver::VertexDisplay d;
  const graph::VertexMeta& m = v.meta;
  d.name = m.step.empty() ? (m.description.empty() ? m.instruction : m.description)
                          : absl::StrCat(m.step, " ", m.instruction);
  if (m.line > 0) {
    d.fields["dockerfile"] = std::string(dockerfile);
    d.fields["dockerfile.line"] = std::to_string(m.line);
  }
  d.fields["stage"] = m.stage;
  d.fields["instruction"] = m.instruction;
  return d;
}

}  // namespace

absl::StatusOr<std::vector<solver::VertexRef>> OpFactory::MakeVertices(
    const graph::Graph& g, std::string_view dockerfile) const {
  std::vector<solver::VertexRef> out;
  out.reserve(g.size());
  solver::VertexRef scratch;  // the shared empty tree under file ops without a base
  for (const graph::Vertex& v : g.vertices()) {
    OpSite site{&g, &v, std::string(dockerfile)};
    KILN_ASSIGN_OR_RETURN(OpRef op, Make(site));
    std::vector<solver::VertexRef> inputs;
    const auto* file = std::get_if<graph::FileOp>(&v.op);
    if (file != nullptr && !file->has_base) {
      if (scratch == nullptr) {
        graph::Vertex empty;
        empty.op = graph::SourceOp{};  // Kind::kScratch
        empty.digest = graph::VertexDigest(empty.op, {});
        KILN_ASSIGN_OR_RETURN(OpRef scratch_op, Make(OpSite{&g, &empty, site.dockerfile}));
        KILN_ASSIGN_OR_RETURN(scratch, solver::Vertex::Create(empty.digest, std::move(scratch_op),
                                                              {}, {"scratch", {}}));
      }
      inputs.push_back(scratch);
    }
    for (graph::VertexId id : v.inputs) inputs.push_back(out.at(id));
    KILN_ASSIGN_OR_RETURN(solver::VertexRef sv,
                          solver::Vertex::Create(v.digest, std::move(op), std::move(inputs),
                                                 DisplayOf(v, dockerfile)));
    out.push_back(std::move(sv));
  }
  return out;
}

}  // namespace kiln::engine
