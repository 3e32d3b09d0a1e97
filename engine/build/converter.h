// Converts the frontend's content-addressed graph (engine/graph) into solver vertices whose
// ops run on this engine's worker (snapshots, sandbox, content store).
#ifndef KILN_ENGINE_BUILD_CONVERTER_H_
#define KILN_ENGINE_BUILD_CONVERTER_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/build/layers.h"
#include "engine/build/worker.h"
#include "engine/graph/graph.h"
#include "engine/solver/vertex.h"
#include "sandbox/sandbox.h"

namespace kiln::engine {

struct ConvertContext {
  const Worker* worker = nullptr;
  const sandbox::Sandbox* sandbox = nullptr;
  LayerStore* layers = nullptr;
  std::string context_dir;     // absolute; the local source "context"
  std::string dockerfile_name; // for error messages
};

// One solver vertex per graph vertex (same order). Errors: InvalidArgument naming the
// Dockerfile line for features this engine does not run (e.g. RUN --mount=type=ssh).
absl::StatusOr<std::vector<solver::VertexRef>> ConvertGraph(const graph::Graph& g,
                                                           const ConvertContext& ctx);

// "<dockerfile>:<line>: <what> is not supported yet" (InvalidArgument).
absl::Status UnsupportedStep(const ConvertContext& ctx, const graph::Vertex& v,
                             std::string_view what);

}  // namespace kiln::engine

#endif  // KILN_ENGINE_BUILD_CONVERTER_H_
