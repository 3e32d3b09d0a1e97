#include "engine/ops/build_ops.h"

#include "engine/ops/exec_op.h"
#include "engine/ops/file_op.h"
#include "engine/ops/source_ops.h"

namespace kiln::engine {

OpFactory MakeBuildOpFactory(const Worker& worker, LayerStore* layers, const Executor* executor,
                             const TreeAccess* trees, const std::string& context_dir) {
  OpFactory factory;
  RegisterSourceOps(&factory, context_dir);
  RegisterImageSourceOp(&factory, &worker, layers);
  ExecOpDeps exec;
  exec.snapshots = worker.snapshots;
  exec.executor = executor;
  exec.trees = trees;
  exec.default_network = worker.default_network;
  exec.mounts = {worker.snapshots, worker.checksums, worker.tmp, worker.root + "/cachemounts"};
  RegisterExecOp(&factory, std::move(exec));
  RegisterFileOp(&factory,
                 FileOpDeps{worker.snapshots, trees, worker.checksums, worker.copy_reuse});
  return factory;
}

}  // namespace kiln::engine
