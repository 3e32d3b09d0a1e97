// Step errors: how a failed vertex is described in a build's error.
//
// Ops report a failed process with ProcessExitError(); the solver then wraps the op's error
// as "[<file>:<line>: ]step '<vertex name>': <op message>" followed by the last lines of the step's output,
// and attaches the same facts as Status payloads so callers (CLI, daemon) can read them back
// with StepFailureOf() without parsing text.
#ifndef KILN_ENGINE_SOLVER_STEP_ERROR_H_
#define KILN_ENGINE_SOLVER_STEP_ERROR_H_

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"

namespace kiln::engine::solver {

// An Unknown error for a process that exited with `exit_code`, in Docker's words:
// `process "<command>" did not complete successfully: exit code: <n>`.
absl::Status ProcessExitError(std::string_view command, int exit_code);

// The exit code carried by `status` (from ProcessExitError), if any.
std::optional<int> ExitCodeOf(const absl::Status& status);

struct StepFailure {
  std::string vertex_name;
  std::string vertex_digest;  // "sha256:..."
  std::optional<int> exit_code;
  std::vector<std::string> log_tail;  // last lines of the step's output, oldest first
};

// The failed step described by a build error, if the error came from a step.
std::optional<StepFailure> StepFailureOf(const absl::Status& status);

namespace internal {
// Wraps an op's error into the build error (message, payloads). Keeps the code.
// `location` ("Dockerfile:12"), when known, prefixes the message the way every user-input
// error in Kiln starts.
absl::Status MakeStepError(const absl::Status& cause, std::string_view vertex_name,
                           std::string_view vertex_digest,
                           const std::vector<std::string>& log_tail,
                           std::string_view location = {});
}  // namespace internal

}  // namespace kiln::engine::solver

#endif  // KILN_ENGINE_SOLVER_STEP_ERROR_H_
