// OpFactory: builds the solver's ops straight from the build graph (engine/graph), as BuildKit
// reads LLB. Each op kind registers one constructor that takes the graph's own op type
// (graph::ExecOp, graph::FileOp, graph::SourceOp) and the services that op uses; the factory
// then turns a graph into solver vertices that carry the graph's digests, so there is one DAG
// and no translation layer. A kind nobody registered fails the build naming the Dockerfile line.
//
// Registration happens before the first MakeVertices; after that the factory is read-only and
// MakeVertices may be called from several threads.
#ifndef KILN_ENGINE_OPS_OP_FACTORY_H_
#define KILN_ENGINE_OPS_OP_FACTORY_H_

#include <array>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/graph/graph.h"
#include "engine/graph/op.h"
#include "engine/solver/op.h"
#include "engine/solver/vertex.h"

namespace kiln::engine {

using OpRef = std::shared_ptr<const solver::Op>;

// The kinds a factory keys on: the graph's op types, sources split by what they read.
enum class OpKind { kImage, kScratch, kLocal, kHttp, kGit, kExec, kFile };
inline constexpr size_t kOpKinds = 7;

OpKind KindOf(const graph::Op& op);
// "image source", "scratch", "local source", "http source", "git source", "exec", "file".
std::string_view OpKindName(OpKind kind);

// The vertex an op is made for, and where it comes from (for error messages).
struct OpSite {
  const graph::Graph* graph = nullptr;  // the whole graph (an op may look at its inputs)
  const graph::Vertex* vertex = nullptr;
  std::string dockerfile;  // "Dockerfile"

  // "<dockerfile>:<line>".
  std::string Where() const;
  // InvalidArgument "<dockerfile>:<line>: <what>".
  absl::Status Invalid(std::string_view what) const;
  // InvalidArgument "<dockerfile>:<line>: <what> is not supported yet".
  absl::Status Unsupported(std::string_view what) const;
};

class OpFactory {
 public:
  using Constructor = std::function<absl::StatusOr<OpRef>(const graph::Op&, const OpSite&)>;

  // Registers (or replaces) the constructor for `kind`.
  void Register(OpKind kind, Constructor make);
  // Same, for a constructor taking the graph's concrete op type `G`.
  template <typename G, typename F>
  void Register(OpKind kind, F make) {
    Register(kind, Constructor([make = std::move(make)](const graph::Op& op, const OpSite& site) {
               return make(std::get<G>(op), site);
             }));
  }

  // The op of `site.vertex`. InvalidArgument (naming the line) when its kind is unregistered.
  absl::StatusOr<OpRef> Make(const OpSite& site) const;

  // One solver vertex per graph vertex, in the graph's order and with its digests. A file op
  // without a base (COPY onto scratch) gets one shared empty-tree input in front of its own
  // (made by the kScratch constructor). Display names and fields come from the vertex meta.
  absl::StatusOr<std::vector<solver::VertexRef>> MakeVertices(const graph::Graph& g,
                                                              std::string_view dockerfile) const;

 private:
  std::array<Constructor, kOpKinds> make_;
};

}  // namespace kiln::engine

#endif  // KILN_ENGINE_OPS_OP_FACTORY_H_
