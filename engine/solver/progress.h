// Progress events: what the solver reports about each vertex of a build, for the CLI now and
// the daemon's status stream later.
//
// Per vertex a build sees, in this order: kStarted, then kCached (cache hit) or any number of
// kLog / kProgress, then exactly one of kCompleted or kError. A vertex whose build ends before
// it runs (failure elsewhere, cancel) may see no events or only kStarted. Vertices that never
// start (unreachable, or skipped after a failure) have no events.
#ifndef KILN_ENGINE_SOLVER_PROGRESS_H_
#define KILN_ENGINE_SOLVER_PROGRESS_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "engine/solver/op.h"
#include "engine/solver/vertex.h"

namespace kiln::engine::solver {

enum class ProgressKind { kStarted, kCached, kLog, kProgress, kCompleted, kError };

// "started", "cached", "log", "progress", "completed", "error".
const char* ProgressKindName(ProgressKind kind);

struct ProgressEvent {
  ProgressKind kind = ProgressKind::kStarted;
  VertexRef vertex;  // never null
  absl::Time time;   // from the solver's Clock
  int worker = -1;   // base::ThreadPool::CurrentWorkerIndex() of the emitting thread
  // kLog
  LogStream stream = LogStream::kStdout;
  std::string data;
  // kProgress
  int64_t current = 0;
  int64_t total = 0;
  // kCompleted: whether the result came from the cache. kError: the step's error.
  bool cached = false;
  absl::Status status;
};

// Receives a build's events. Called from solver worker threads (one vertex's events are never
// delivered concurrently, but different vertices' may be), and never after Solve returns.
// Must be quick and must not call into the Solver.
using ProgressSink = std::function<void(const ProgressEvent&)>;

// A sink that stores every event in arrival order. Thread-safe.
class ProgressRecorder {
 public:
  // A sink that appends to this recorder; the recorder must outlive its use.
  ProgressSink Sink();
  void Record(const ProgressEvent& event);
  std::vector<ProgressEvent> Events() const;

 private:
  mutable absl::Mutex mu_;
  std::vector<ProgressEvent> events_ ABSL_GUARDED_BY(mu_);
};

}  // namespace kiln::engine::solver

#endif  // KILN_ENGINE_SOLVER_PROGRESS_H_
