// BuildEvent: a self-contained, serializable progress event of one build, for the CLI's
// progress views (tty, plain, rawjson), traces and the daemon's Solve status stream.
// The engine converts the solver's events (which hold live Vertex pointers) into these.
#ifndef KILN_ENGINE_CORE_EVENTS_H_
#define KILN_ENGINE_CORE_EVENTS_H_

#include <cstdint>
#include <functional>
#include <string>

namespace kiln::engine {

// kWarning: a build check (BuildKit's Dockerfile lint rules), before any step runs.
enum class BuildEventKind { kStarted, kCached, kLog, kProgress, kCompleted, kError, kWarning };

struct BuildEvent {
  BuildEventKind kind = BuildEventKind::kStarted;
  std::string vertex;      // "sha256:..." digest of the vertex
  std::string name;        // display name, e.g. "[builder 3/4] RUN go build -o /out/x ."
  int index = 0;           // 1-based step number within the build, stable per vertex ("#3")
  int64_t time_unix_nanos = 0;
  int worker = -1;         // worker thread index, for traces
  int stream = 1;          // kLog: 1 stdout, 2 stderr
  std::string data;        // kLog: bytes
  int64_t current = 0;     // kProgress
  int64_t total = 0;
  bool cached = false;     // kCompleted
  std::string error;       // kError: message
  // kWarning: the check's rule ("JSONArgsRecommended"), its documentation URL, the rule's
  // description, the message for this place, and the place (file, 1-based line).
  std::string rule, url, description, message, file;
  int line = 0;
};

// Called from engine threads; must be thread-safe and quick.
using BuildEventSink = std::function<void(const BuildEvent&)>;

const char* BuildEventKindName(BuildEventKind kind);  // "started", "cached", ...

}  // namespace kiln::engine

#endif  // KILN_ENGINE_CORE_EVENTS_H_
