#include "engine/graph/graph.h"

#include <algorithm>

#include "absl/container/inlined_vector.h"
#include "absl/strings/str_cat.h"

namespace kiln::engine::graph {

Graph::Key Graph::Key::Of(const base::Digest& d) {
  // Digest hex is 64 lowercase hex characters (or empty: the all-zero key, never a vertex's).
  Key k;
  const std::string& hex = d.hex();
  if (hex.size() != 64) return k;
  for (size_t w = 0; w < 4; ++w) {
    uint64_t v = 0;  // 16 hex characters, accumulated in a register
    for (size_t i = 16 * w; i < 16 * w + 16; ++i) {
      // Branch-free: '0'-'9' are 0x30-0x39, 'a'-'f' are 0x61-0x66 (bit 6 set: add 9).
      const auto c = static_cast<uint64_t>(static_cast<unsigned char>(hex[i]));
      v = (v << 4) | ((c & 0xF) + 9 * (c >> 6));
    }
    k.w[w] = v;
  }
  return k;
}

absl::StatusOr<VertexId> Graph::Add(Op op, std::vector<VertexId> inputs, VertexMeta meta) {
  absl::InlinedVector<const base::Digest*, 4> digests;
  for (VertexId in : inputs) {
    if (in >= vertices_.size()) {
      return absl::InvalidArgumentError(
          absl::StrCat("add vertex: input id ", in, " out of range (", vertices_.size(),
                       " vertices)"));
    }
    digests.push_back(&vertices_[in].digest);
  }
  base::Digest d = VertexDigestOf(op, digests);
  auto [it, inserted] = by_digest_.try_emplace(Key::Of(d), vertices_.size());
  if (!inserted) {
    ++vertices_[it->second].merged;
    return it->second;
  }
  vertices_.push_back(Vertex{std::move(d), std::move(inputs), std::move(op), std::move(meta), 0});
  return it->second;
}

void Graph::Reserve(size_t n) {
  vertices_.reserve(n);
  by_digest_.reserve(n);
}

absl::StatusOr<VertexId> Graph::Find(const base::Digest& digest) const {
  auto it = by_digest_.find(Key::Of(digest));
  if (it == by_digest_.end()) {
    return absl::NotFoundError(absl::StrCat("find vertex '", digest.str(), "': not in graph"));
  }
  return it->second;
}

std::vector<bool> Graph::Reachable(const std::vector<VertexId>& roots) const {
  std::vector<bool> keep(vertices_.size(), false);
  std::vector<VertexId> stack(roots.begin(), roots.end());
  while (!stack.empty()) {
    VertexId v = stack.back();
    stack.pop_back();
    if (v >= keep.size() || keep[v]) continue;
    keep[v] = true;
    for (VertexId in : vertices_[v].inputs) stack.push_back(in);
  }
  return keep;
}

Graph Graph::Prune(std::vector<VertexId>* roots) const {
  Graph copy = *this;
  return copy.TakePruned(roots);
}

Graph Graph::TakePruned(std::vector<VertexId>* roots) {
  std::vector<bool> keep = Reachable(*roots);
  if (std::find(keep.begin(), keep.end(), false) == keep.end()) {
    Graph all = std::move(*this);
    vertices_.clear();
    by_digest_.clear();
    return all;
  }
  Graph out;
  out.vertices_.reserve(vertices_.size());
  std::vector<VertexId> remap(vertices_.size(), 0);
  for (VertexId v = 0; v < vertices_.size(); ++v) {
    if (!keep[v]) continue;
    Vertex moved = std::move(vertices_[v]);
    for (VertexId& in : moved.inputs) in = remap[in];
    remap[v] = out.vertices_.size();
    out.by_digest_.emplace(Key::Of(moved.digest), remap[v]);
    out.vertices_.push_back(std::move(moved));
  }
  for (VertexId& r : *roots) r = r < remap.size() ? remap[r] : r;
  vertices_.clear();
  by_digest_.clear();
  return out;
}

namespace {

std::string Label(const Vertex& v) {
  if (!v.meta.instruction.empty()) {
    return v.meta.step.empty() ? v.meta.instruction : v.meta.step + " " + v.meta.instruction;
  }
  return v.meta.description;
}

std::string DotEscape(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') out.push_back('\\');
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out.push_back(c);
  }
  return out;
}

}  // namespace

std::string RenderText(const Graph& g) {
  std::string out;
  for (const Vertex& v : g.vertices()) {
    std::string ins;
    for (VertexId in : v.inputs) {
      if (!ins.empty()) ins += ",";
      ins += g.vertex(in).digest.short_hex();
    }
    if (ins.empty()) ins.push_back('-');
    absl::StrAppend(&out, v.digest.short_hex(), " ", OpKindName(v.op), " [", ins, "] ",
                    Label(v), "\n");
  }
  return out;
}

std::string RenderDot(const Graph& g) {
  std::string out = "digraph kiln {\n  rankdir=TB;\n  node [shape=box, fontname=\"monospace\"];\n";
  for (const Vertex& v : g.vertices()) {
    absl::StrAppend(&out, "  \"", v.digest.short_hex(), "\" [label=\"", v.digest.short_hex(),
                    "\\n", DotEscape(Label(v)), "\"];\n");
  }
  for (const Vertex& v : g.vertices()) {
    for (VertexId in : v.inputs) {
      absl::StrAppend(&out, "  \"", g.vertex(in).digest.short_hex(), "\" -> \"",
                      v.digest.short_hex(), "\";\n");
    }
  }
  out += "}\n";
  return out;
}

}  // namespace kiln::engine::graph
