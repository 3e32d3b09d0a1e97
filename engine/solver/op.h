// Op: what one vertex does (exec, file, source). The solver is generic over ops.
//
// Lifecycle per vertex and build: once all inputs are ready the solver calls CacheKey(), then
// asks the CacheSeam; on a miss it calls Exec() and saves the result under the key. Each call
// happens on a solver worker thread; an Op object may be shared by several vertices and be
// called concurrently, so implementations must be thread-safe.
#ifndef KILN_ENGINE_SOLVER_OP_H_
#define KILN_ENGINE_SOLVER_OP_H_

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "base/digest.h"
#include "engine/solver/cancellation.h"
#include "engine/solver/result.h"

namespace kiln::engine::solver {

class Vertex;

// Per-build settings, visible to ops.
struct BuildOptions {
  // Skip cache lookups (results are still saved), like `--no-cache`.
  bool no_cache = false;
  // Max concurrent steps of this build; 0 means the solver-wide limit. Never raises it.
  size_t max_parallelism = 0;
  // Opaque key/value settings for ops (e.g. "network" -> "none"); the solver ignores them.
  std::map<std::string, std::string> attrs;
};

// One ready input of a vertex, in the order of Vertex::inputs().
struct InputRef {
  const Vertex* vertex = nullptr;  // never null; valid during the call
  base::Digest cache_key;          // the input's own cache key
  ResultRef result;                // never null
};

// Output streams for ExecContext::Log.
enum class LogStream : int { kStdout = 1, kStderr = 2 };

// What an op may use while it runs. Implemented by the solver (and by fakes in op tests).
// Valid only during the CacheKey/Exec call it is passed to; thread-safe.
class ExecContext {
 public:
  virtual ~ExecContext() = default;
  // Set when no build needs this step anymore; ops should stop promptly and return
  // absl::CancelledError.
  virtual const Cancellation& cancel() const = 0;
  // Step output (any chunking; the solver splits lines for the error tail).
  virtual void Log(LogStream stream, std::string_view bytes) = 0;
  // Bytes done / expected (total 0 = unknown).
  virtual void Progress(int64_t current, int64_t total) = 0;
  // Options of the build that started this step (the first one, when builds share it).
  virtual const BuildOptions& options() const = 0;
  virtual const Vertex& vertex() const = 0;
};

class Op {
 public:
  virtual ~Op() = default;

  // The cache key, computed once every input is ready, so it may depend on the inputs'
  // content (early cutoff). The recipes live in cache/cache_key.h.
  // Errors fail the step.
  virtual absl::StatusOr<base::Digest> CacheKey(ExecContext& ctx,
                                                const std::vector<InputRef>& inputs) const = 0;

  // Does the work and returns a non-null result. A process that exits non-zero should be
  // reported with ProcessExitError() (step_error.h) so the build error carries its exit code.
  // Returns Cancelled when ctx.cancel() fired.
  virtual absl::StatusOr<ResultRef> Exec(ExecContext& ctx,
                                         const std::vector<InputRef>& inputs) const = 0;
};

}  // namespace kiln::engine::solver

#endif  // KILN_ENGINE_SOLVER_OP_H_
