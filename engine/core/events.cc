#include "engine/core/events.h"

namespace kiln::engine {

const char* BuildEventKindName(BuildEventKind kind) {
  switch (kind) {
    case BuildEventKind::kStarted: return "started";
    case BuildEventKind::kCached: return "cached";
    case BuildEventKind::kLog: return "log";
    case BuildEventKind::kProgress: return "progress";
    case BuildEventKind::kCompleted: return "completed";
    case BuildEventKind::kError: return "error";
    case BuildEventKind::kWarning: return "warning";
  }
  return "unknown";
}

}  // namespace kiln::engine
