// ExecOp: RUN as a solver op. Input 0 is the root filesystem (a SnapshotResult); the command
// runs in sandbox/ on an overlay snapshot prepared on it, which is committed as the result.
// RUN --mount (exec_mount.h): further inputs are bind/cache mount sources. Cache key: the
// definition, the content each bind mount reads (not its source's key), and the keys of the
// other inputs; cache mounts, tmpfs and secret values never enter it. Mount targets missing in
// the rootfs, and the /etc/resolv.conf and /etc/hosts stubs the sandbox binds its files on, are
// created for the run only and never reach the committed snapshot (while still empty).
#ifndef KILN_ENGINE_BUILD_EXEC_OP_H_
#define KILN_ENGINE_BUILD_EXEC_OP_H_

#include <map>
#include <string>
#include <vector>

#include "engine/build/worker.h"
#include "engine/graph/graph.h"
#include "engine/solver/op.h"
#include "sandbox/sandbox.h"

namespace kiln::engine {

struct ExecParams {
  std::vector<std::string> argv;
  std::vector<std::string> env;  // "K=V"
  std::string cwd = "/";
  std::string user;                      // "" = root
  std::string network;                   // "default", "host", "none", or "" = the engine's default
  std::string display_command;           // for error messages (the instruction as written)
  std::vector<graph::ExecMount> mounts;  // RUN --mount, in order (inputs index the op's inputs)
  std::string where;                     // "Dockerfile:12", for errors about mounts
};

// Puts a build's secrets (id -> host file path, BuildRequest::secrets) into the solver's
// per-build attrs, where ExecOp finds them. The values (file contents) are read only when a
// RUN that mounts them executes, and never enter a cache key.
// The solver attr holding a build-wide network mode (BuildRequest::network) for RUNs without
// --network; absent: the engine's default.
inline constexpr char kNetworkAttr[] = "kiln.network";

void SetSecretAttrs(const std::map<std::string, std::string>& secrets,
                    std::map<std::string, std::string>* attrs);

class ExecOp : public solver::Op {
 public:
  // `definition` is the op's canonical bytes (graph::SerializeOp), which keys the vertex.
  ExecOp(const Worker* worker, const sandbox::Sandbox* sandbox, ExecParams params,
         std::string definition);
  absl::StatusOr<base::Digest> CacheKey(solver::ExecContext& ctx,
                                        const std::vector<solver::InputRef>& inputs) const override;
  absl::StatusOr<solver::ResultRef> Exec(
      solver::ExecContext& ctx, const std::vector<solver::InputRef>& inputs) const override;

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
