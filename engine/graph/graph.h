// The content-addressed build graph: vertices (an op, its input edges, its digest) plus
// per-vertex metadata that is not part of the digest. Adding an op whose digest already
// exists returns the existing vertex, so equal sub-graphs are merged whichever stage or
// Dockerfile they come from.
//
// Vertices are stored in insertion order, which is a topological order (inputs must exist
// before a vertex that uses them). A Graph is a value; not thread-safe for concurrent
// mutation, const methods are safe to call concurrently.
#ifndef KILN_ENGINE_GRAPH_GRAPH_H_
#define KILN_ENGINE_GRAPH_GRAPH_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "base/digest.h"
#include "engine/graph/op.h"

namespace kiln::engine::graph {

using VertexId = size_t;

// Where a vertex came from. Not part of the digest.
struct VertexMeta {
  std::string stage;        // stage name ("builder", or "stage-0" when unnamed)
  std::string instruction;  // as written, e.g. "RUN sleep 2 && echo a > /out"
  int line = 0;             // Dockerfile line (0 for internal vertices)
  std::string step;         // "[builder 3/4]"
  std::string description;  // for internal vertices, e.g. "load build context"
};

struct Vertex {
  base::Digest digest;
  std::vector<VertexId> inputs;
  Op op;
  VertexMeta meta;  // of the first occurrence
  int merged = 0;   // how many further occurrences were merged into this vertex
};

class Graph {
 public:
  // Adds `op` with `inputs` (ids returned earlier by this graph) or returns the vertex with
  // the same digest. InvalidArgument if an input id is out of range.
  absl::StatusOr<VertexId> Add(Op op, std::vector<VertexId> inputs, VertexMeta meta);
  // Makes room for `n` vertices so adding them moves none (a hint; any n is safe).
  void Reserve(size_t n);

  const Vertex& vertex(VertexId id) const { return vertices_[id]; }
  const std::vector<Vertex>& vertices() const { return vertices_; }
  size_t size() const { return vertices_.size(); }
  // The vertex with `digest`, or NotFound.
  absl::StatusOr<VertexId> Find(const base::Digest& digest) const;

  // A new graph holding only `roots` and everything they depend on (same digests, same
  // topological order). Ids in `roots` are rewritten in place to the new graph's ids.
  Graph Prune(std::vector<VertexId>* roots) const;
  // Same, moving the kept vertices out of this graph (which is left empty). When every
  // vertex is kept, the graph itself is moved (ids are unchanged).
  Graph TakePruned(std::vector<VertexId>* roots);

 private:
  std::vector<bool> Reachable(const std::vector<VertexId>& roots) const;

  // The 32 digest bytes as a map key: no allocation per vertex, cheap to hash.
  struct Key {
    uint64_t w[4] = {0, 0, 0, 0};
    static Key Of(const base::Digest& d);
    friend bool operator==(const Key&, const Key&) = default;
    template <typename H>
    friend H AbslHashValue(H h, const Key& k) {
      return H::combine(std::move(h), k.w[0], k.w[1], k.w[2], k.w[3]);
    }
  };

  std::vector<Vertex> vertices_;
  absl::flat_hash_map<Key, VertexId> by_digest_;
};

// Text rendering, one line per vertex in topological order:
//   <12-hex digest> <kind> [<input digests, comma separated> | -] <step> <instruction>
std::string RenderText(const Graph& g);
// Graphviz DOT rendering (digraph, one node per vertex, edges input -> user).
std::string RenderDot(const Graph& g);

}  // namespace kiln::engine::graph

#endif  // KILN_ENGINE_GRAPH_GRAPH_H_
