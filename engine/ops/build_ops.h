// The OpFactory of a real build: every op kind registered with the services it uses, drawn
// from the engine's worker (content store, snapshotter, checksums, incremental COPY, RUN
// --mount directories), its layer store, executor (the sandbox) and tree access (mounts).
#ifndef KILN_ENGINE_OPS_BUILD_OPS_H_
#define KILN_ENGINE_OPS_BUILD_OPS_H_

#include <string>

#include "engine/ops/executor.h"
#include "engine/ops/layers.h"
#include "engine/ops/op_factory.h"
#include "engine/ops/tree_access.h"
#include "engine/ops/worker.h"

namespace kiln::engine {

// Every pointer is borrowed and must outlive the factory's ops. `context_dir` (absolute) is
// the build's context.
OpFactory MakeBuildOpFactory(const Worker& worker, LayerStore* layers, const Executor* executor,
                             const TreeAccess* trees, const std::string& context_dir);

}  // namespace kiln::engine

#endif  // KILN_ENGINE_OPS_BUILD_OPS_H_
