// SandboxExecutor: the Executor (executor.h) of a real build, over sandbox::Sandbox. Every run
// gets its own namespaces, seccomp filter and init (sandbox/sandbox.h). Thread-safe.
#ifndef KILN_ENGINE_OPS_SANDBOX_EXECUTOR_H_
#define KILN_ENGINE_OPS_SANDBOX_EXECUTOR_H_

#include "engine/ops/executor.h"
#include "sandbox/sandbox.h"

namespace kiln::engine {

class SandboxExecutor final : public Executor {
 public:
  // `sandbox` is borrowed and must outlive this executor.
  explicit SandboxExecutor(const sandbox::Sandbox* sandbox) : sandbox_(sandbox) {}

  absl::StatusOr<sandbox::Result> Run(const sandbox::Spec& spec) const override {
    return sandbox_->Run(spec);
  }
  const sandbox::IdMapping* id_mapping() const override { return &sandbox_->id_mapping(); }

 private:
  const sandbox::Sandbox* sandbox_;
};

}  // namespace kiln::engine

#endif  // KILN_ENGINE_OPS_SANDBOX_EXECUTOR_H_
