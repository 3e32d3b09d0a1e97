// Vertex: one node of the build graph -- an op, its input vertices and display metadata.
//
// Immutable once created and shared (std::shared_ptr<const Vertex>), so any thread may read
// it. Its digest identifies the work and is given by whoever builds the graph (the engine
// passes the build graph's digest, engine/graph/op.h VertexDigest, so progress, traces,
// metadata files and `kilnctl debug graph` all show the same one). The solver never hashes a
// vertex; it only uses the digest to merge identical work and to name steps.
#ifndef KILN_ENGINE_SOLVER_VERTEX_H_
#define KILN_ENGINE_SOLVER_VERTEX_H_

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "base/digest.h"
#include "engine/solver/op.h"

namespace kiln::engine::solver {

// What the CLI shows for a vertex.
struct VertexDisplay {
  // E.g. "[builder 3/4] RUN go build ./..." (the frontend fills stage/instruction).
  std::string name;
  // Opaque fields for the CLI and error messages (e.g. "dockerfile.line" -> "12").
  std::map<std::string, std::string> fields;
};

class Vertex {
 public:
  // `digest` must identify the op and its inputs: two vertices with the same digest are the
  // same work. InvalidArgument if `digest` is empty or `op` or an input is null.
  static absl::StatusOr<std::shared_ptr<const Vertex>> Create(
      base::Digest digest, std::shared_ptr<const Op> op,
      std::vector<std::shared_ptr<const Vertex>> inputs, VertexDisplay display);

  const base::Digest& digest() const { return digest_; }
  const Op& op() const { return *op_; }
  const std::vector<std::shared_ptr<const Vertex>>& inputs() const { return inputs_; }
  const VertexDisplay& display() const { return display_; }
  const std::string& name() const { return display_.name; }

 private:
  Vertex() = default;

  base::Digest digest_;
  std::shared_ptr<const Op> op_;
  std::vector<std::shared_ptr<const Vertex>> inputs_;
  VertexDisplay display_;
};

using VertexRef = std::shared_ptr<const Vertex>;

}  // namespace kiln::engine::solver

#endif  // KILN_ENGINE_SOLVER_VERTEX_H_
