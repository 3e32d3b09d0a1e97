// EventBridge: turns a build's solver progress events into BuildEvents for the client (one
// index per step, in order of first appearance) and records each step's timing for the build
// result. Thread-safe: the solver calls OnEvent from its worker threads.
#ifndef KILN_ENGINE_BUILD_EVENT_BRIDGE_H_
#define KILN_ENGINE_BUILD_EVENT_BRIDGE_H_

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "engine/build/engine.h"
#include "engine/solver/progress.h"

namespace kiln::engine {

class EventBridge {
 public:
  explicit EventBridge(BuildEventSink sink) : sink_(std::move(sink)) {}

  // Forwards `e` to the sink (if any) and records its step's timing.
  void OnEvent(const solver::ProgressEvent& e);

  // Shows `lines` as the log of a step that is no vertex (BuildKit's "[internal] load build
  // definition from Dockerfile"): numbered like the others, never in Timings().
  void Note(const std::string& name, const std::vector<std::string>& lines);

  // The timings of every step seen, in index order.
  std::vector<StepTiming> Timings();

 private:
  BuildEventSink sink_;
  absl::Mutex mu_;
  std::map<std::string, int> index_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, StepTiming> timings_ ABSL_GUARDED_BY(mu_);
};

}  // namespace kiln::engine

#endif  // KILN_ENGINE_BUILD_EVENT_BRIDGE_H_
