#include "engine/solver/trace.h"

#include <algorithm>
#include <exception>
#include <map>
#include <set>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace kiln::engine::solver {

std::vector<StepTiming> SummarizeSteps(const std::vector<ProgressEvent>& events) {
  std::vector<StepTiming> steps;
  absl::flat_hash_map<const Vertex*, size_t> index;
  for (const ProgressEvent& event : events) {
    if (event.vertex == nullptr) continue;
    auto it = index.find(event.vertex.get());
    if (event.kind == ProgressKind::kStarted) {
      if (it != index.end()) continue;  // replayed duplicate
      StepTiming step;
      step.vertex_digest = event.vertex->digest().str();
      step.name = event.vertex->name();
      step.started = step.finished = event.time;
      step.worker = event.worker;
      index.emplace(event.vertex.get(), steps.size());
      steps.push_back(std::move(step));
      continue;
    }
    if (it == index.end()) continue;
    StepTiming& step = steps[it->second];
    switch (event.kind) {
      case ProgressKind::kCached:
        step.cached = true;
        break;
      case ProgressKind::kCompleted:
        step.finished_ok = true;
        step.cached = step.cached || event.cached;
        step.finished = event.time;
        break;
      case ProgressKind::kError:
        step.failed = true;
        step.finished = event.time;
        break;
      default:
        break;
    }
  }
  for (StepTiming& step : steps) step.duration = step.finished - step.started;
  return steps;
}

absl::StatusOr<std::string> ChromeTraceJson(const std::vector<ProgressEvent>& events) {
  std::vector<StepTiming> steps = SummarizeSteps(events);
  absl::Time origin = absl::InfiniteFuture();
  for (const StepTiming& step : steps) origin = std::min(origin, step.started);
  try {
    nlohmann::json trace_events = nlohmann::json::array();
    std::set<int> workers;
    for (const StepTiming& step : steps) {
      workers.insert(step.worker);
      nlohmann::json args = {{"cached", step.cached}, {"vertex", step.vertex_digest}};
      if (step.failed) args["error"] = true;
      trace_events.push_back({{"name", step.name},
                              {"cat", step.cached ? "cached" : "step"},
                              {"ph", "X"},
                              {"ts", absl::ToInt64Microseconds(step.started - origin)},
                              {"dur", absl::ToInt64Microseconds(step.duration)},
                              {"pid", 1},
                              {"tid", step.worker},
                              {"args", std::move(args)}});
    }
    for (int worker : workers) {
      std::string name = worker < 0 ? "caller" : absl::StrCat("worker ", worker);
      trace_events.push_back({{"name", "thread_name"},
                              {"ph", "M"},
                              {"pid", 1},
                              {"tid", worker},
                              {"args", {{"name", name}}}});
    }
    nlohmann::json doc = {{"traceEvents", std::move(trace_events)}, {"displayTimeUnit", "ms"}};
    return doc.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat("serialize chrome trace: ", e.what()));
  }
}

}  // namespace kiln::engine::solver
