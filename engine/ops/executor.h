// Executor: the one door through which engine ops run a process (RUN). The sandbox implements
// it (SandboxExecutor, sandbox_executor.h); tests use a fake that "runs" a command by changing
// the rootfs tree, so the ops' logic runs without root, namespaces or mounts.
//
// Contract: Run() is given a complete sandbox::Spec (argv, env, cwd, user, the rootfs as the
// snapshotter describes it, extra mounts, network, output callbacks and a cancel handle) and
// runs it to completion, timeout or cancellation. A non-zero exit is a Result, not an error;
// errors mean the process never ran (codes as sandbox::Sandbox::Run). Output callbacks are
// called on Run()'s thread. Implementations are thread-safe: ops call Run() concurrently.
// Ownership: the engine owns the executor; ops borrow it for the engine's lifetime.
#ifndef KILN_ENGINE_OPS_EXECUTOR_H_
#define KILN_ENGINE_OPS_EXECUTOR_H_

#include "absl/status/statusor.h"
#include "sandbox/id_mapping.h"
#include "sandbox/spec.h"

namespace kiln::engine {

class Executor {
 public:
  virtual ~Executor() = default;

  // Runs `spec` (see above). Thread-safe.
  virtual absl::StatusOr<sandbox::Result> Run(const sandbox::Spec& spec) const = 0;

  // The user and group ids a run can own, so RUN --mount can explain an id it cannot map.
  // Null when every id can be owned (or the executor does not know).
  virtual const sandbox::IdMapping* id_mapping() const = 0;
};

}  // namespace kiln::engine

#endif  // KILN_ENGINE_OPS_EXECUTOR_H_
