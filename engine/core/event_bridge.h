// EventBridge: turns one build's solver progress into BuildEvents for the client (numbered
// steps, "[internal]" notes, build-check warnings) and records each step's timing.
// Thread-safe: the solver calls OnEvent from its worker threads.
#ifndef KILN_ENGINE_CORE_EVENT_BRIDGE_H_
#define KILN_ENGINE_CORE_EVENT_BRIDGE_H_

#include <map>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "engine/core/engine.h"
#include "engine/core/events.h"
#include "engine/frontend/checks.h"
#include "engine/solver/progress.h"

namespace kiln::engine {

class EventBridge {
 public:
  explicit EventBridge(BuildEventSink sink) : sink_(std::move(sink)) {}

  void OnEvent(const solver::ProgressEvent& e);

  // Shows `lines` as the log of a step that is no vertex (BuildKit's "[internal] load build
  // definition from Dockerfile"): numbered like the others, never in Timings().
  void Note(const std::string& name, const std::vector<std::string>& lines);

  // One kWarning event per build check.
  void Warnings(const std::vector<CheckWarning>& checks);

  // Every step seen, in step-number order.
  std::vector<StepTiming> Timings();

 private:
  BuildEventSink sink_;
  absl::Mutex mu_;
  std::map<std::string, int> index_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, StepTiming> timings_ ABSL_GUARDED_BY(mu_);
};

}  // namespace kiln::engine

#endif  // KILN_ENGINE_CORE_EVENT_BRIDGE_H_
