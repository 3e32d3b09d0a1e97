// ExecOp: RUN as a solver op. Input 0 is the root filesystem (a SnapshotResult); the command
// runs in sandbox/ on an overlay snapshot prepared on it, which is committed as the result.
#ifndef KILN_ENGINE_BUILD_EXEC_OP_H_
#define KILN_ENGINE_BUILD_EXEC_OP_H_

#include <string>
#include <vector>

#include "engine/build/worker.h"
#include "engine/graph/graph.h"
#include "engine/solver/op.h"
#include "sandbox/sandbox.h"

namespace kiln::engine {

struct ExecParams {
  std::vector<std::string> argv;
  std::vector<std::string> env;   // "K=V"
  std::string cwd = "/";
  std::string user;               // "" = root
  std::string network;            // "host", "none", or "" = the engine's default
  std::string display_command;    // for error messages (the instruction as written)
};

class ExecOp : public solver::Op {
 public:
  // `definition` is the op's canonical bytes (graph::SerializeOp), which keys the vertex.
  ExecOp(const Worker* worker, const sandbox::Sandbox* sandbox, ExecParams params,
         std::string definition);
  std::string Definition() const override;
  absl::StatusOr<base::Digest> CacheKey(solver::ExecContext& ctx,
                                        const std::vector<solver::InputRef>& inputs) const override;
  absl::StatusOr<solver::ResultRef> Exec(solver::ExecContext& ctx,
                                         const std::vector<solver::InputRef>& inputs) const override;

 private:
  const Worker* worker_;
  const sandbox::Sandbox* sandbox_;
  ExecParams params_;
  std::string definition_;
};

struct ConvertContext;  // engine/build/converter.h

// Lowers a RUN (graph::ExecOp of vertex `v`) to an ExecOp. Errors name the Dockerfile line.
absl::StatusOr<std::shared_ptr<const solver::Op>> ConvertExecOp(const graph::ExecOp& e,
                                                                const graph::Vertex& v,
                                                                const ConvertContext& ctx);

}  // namespace kiln::engine

#endif  // KILN_ENGINE_BUILD_EXEC_OP_H_
