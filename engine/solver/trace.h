// Turning recorded progress events (ProgressRecorder::Events()) into a Chrome trace and a
// per-step timing summary (for `--metadata-file` and benchmarks).
//
// Pure functions of their input; thread-safe.
#ifndef KILN_ENGINE_SOLVER_TRACE_H_
#define KILN_ENGINE_SOLVER_TRACE_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "engine/solver/progress.h"

namespace kiln::engine::solver {

// One vertex's run in a build, from its kStarted to its kCompleted/kError event.
struct StepTiming {
  std::string vertex_digest;  // "sha256:..."
  std::string name;
  absl::Time started;
  absl::Time finished;  // == started if the step never finished
  absl::Duration duration;
  int worker = -1;  // worker that started it
  bool cached = false;
  bool finished_ok = false;  // kCompleted seen
  bool failed = false;       // kError seen
};

// Steps in order of their kStarted event. Events of vertices that never started are ignored.
std::vector<StepTiming> SummarizeSteps(const std::vector<ProgressEvent>& events);

// Chrome trace-event JSON ({"traceEvents": [...]}, timestamps in microseconds from the
// earliest event): one complete ("ph":"X") event per step with "tid" = worker,
// "args" {"cached", "vertex", "error"}, plus thread_name metadata per worker.
// Internal if JSON serialization fails (it does not, for valid UTF-8 or not: invalid bytes
// are replaced).
absl::StatusOr<std::string> ChromeTraceJson(const std::vector<ProgressEvent>& events);

}  // namespace kiln::engine::solver

#endif  // KILN_ENGINE_SOLVER_TRACE_H_
