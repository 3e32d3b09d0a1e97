// ExecOp: RUN as a solver op, made by the OpFactory from a graph::ExecOp. Input 0 is the root
// filesystem (a SnapshotResult); the command runs through the Executor (the sandbox in a real
// build) on a snapshot prepared on it, which is committed as the result.
// RUN --mount (exec_mount.h): further inputs are bind/cache mount sources. Cache key: the
// definition, the content each bind mount reads (not its source's key), and the keys of the
// other inputs; cache mounts, tmpfs and secret values never enter it. Mount targets missing in
// the rootfs, and the /etc/resolv.conf and /etc/hosts stubs the sandbox binds its files on, are
// created for the run only and never reach the committed snapshot (while still empty).
#ifndef KILN_ENGINE_OPS_EXEC_OP_H_
#define KILN_ENGINE_OPS_EXEC_OP_H_

#include <map>
#include <string>
#include <vector>

#include "engine/graph/op.h"
#include "engine/ops/exec_mount_source.h"
#include "engine/ops/executor.h"
#include "engine/ops/op_factory.h"
#include "engine/ops/tree_access.h"
#include "engine/solver/op.h"
#include "snapshotter/snapshotter.h"

namespace kiln::engine {

// What a RUN uses of the engine. Pointers are borrowed and outlive every op.
struct ExecOpDeps {
  snapshotter::Snapshotter* snapshots = nullptr;  // the rootfs snapshot of each run
  const Executor* executor = nullptr;             // runs the command
  const TreeAccess* trees = nullptr;              // the rootfs tree (RUN --mount targets)
  std::string default_network = "default";        // for RUN without --network
  MountServices mounts;                           // RUN --mount
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
  // The op for `e` at `site`. InvalidArgument naming the Dockerfile line for a mount without
  // a target and for what this engine does not run (RUN --mount=type=ssh, --security=insecure).
  static absl::StatusOr<OpRef> Create(const graph::ExecOp& e, const OpSite& site, ExecOpDeps deps);

  absl::StatusOr<base::Digest> CacheKey(solver::ExecContext& ctx,
                                        const std::vector<solver::InputRef>& inputs) const override;
  absl::StatusOr<solver::ResultRef> Exec(
      solver::ExecContext& ctx, const std::vector<solver::InputRef>& inputs) const override;

 private:
  // What the run is given, from the graph op: argv, env (with the proxy variables), network
  // ("" = the engine's default), and the mounts, whose inputs index the op's inputs.
  struct Params {
    std::vector<std::string> argv;
    std::vector<std::string> env;  // "K=V"
    std::string cwd = "/";
    std::string user;             // "" = root
    std::string network;          // "default", "host", "none", or "" = deps.default_network
    std::string display_command;  // for error messages (the instruction as written)
    std::vector<graph::ExecMount> mounts;
    std::string where;  // "Dockerfile:12", for errors about mounts
  };
  ExecOp(ExecOpDeps deps, Params params, std::string definition)
      : deps_(std::move(deps)), params_(std::move(params)), definition_(std::move(definition)) {}

  ExecOpDeps deps_;
  Params params_;
  std::string definition_;  // graph::SerializeOp: keys the step
};

// Registers ExecOp::Create for OpKind::kExec.
void RegisterExecOp(OpFactory* factory, ExecOpDeps deps);

}  // namespace kiln::engine

#endif  // KILN_ENGINE_OPS_EXEC_OP_H_
