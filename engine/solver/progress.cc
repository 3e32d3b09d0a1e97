#include "engine/solver/progress.h"

namespace kiln::engine::solver {

const char* ProgressKindName(ProgressKind kind) {
  switch (kind) {
    case ProgressKind::kStarted:
      return "started";
    case ProgressKind::kCached:
      return "cached";
    case ProgressKind::kLog:
      return "log";
    case ProgressKind::kProgress:
      return "progress";
    case ProgressKind::kCompleted:
      return "completed";
    case ProgressKind::kError:
      return "error";
  }
  return "unknown";
}

ProgressSink ProgressRecorder::Sink() {
  return [this](const ProgressEvent& event) { Record(event); };
}

void ProgressRecorder::Record(const ProgressEvent& event) {
  absl::MutexLock lock(&mu_);
  events_.push_back(event);
}

std::vector<ProgressEvent> ProgressRecorder::Events() const {
  absl::MutexLock lock(&mu_);
  return events_;
}

}  // namespace kiln::engine::solver
