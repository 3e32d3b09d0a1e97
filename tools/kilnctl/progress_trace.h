// Build timeline and build metadata files for `kilnctl build --trace FILE --metadata-file FILE`.
//
// TraceRecorder collects BuildEvents and writes a Chrome trace-event JSON file (Perfetto and
// chrome://tracing open it): one track (tid) per worker thread, one complete ("X") span per
// step from start to end with args {index, vertex, cache: "hit"|"miss"|"error"}. A step's
// track is the worker that started it (else the last worker that reported it; tid 0 = no
// worker, e.g. a cache hit found by the scheduler). Thread-safe.
#ifndef KILN_TOOLS_KILNCTL_PROGRESS_TRACE_H_
#define KILN_TOOLS_KILNCTL_PROGRESS_TRACE_H_

#include <map>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "engine/core/engine.h"
#include "engine/core/events.h"
#include "tools/kilnctl/progress_steps.h"

namespace kiln::tools {

class TraceRecorder {
 public:
  void OnEvent(const engine::BuildEvent& event);
  // The trace document: {"traceEvents":[...],"displayTimeUnit":"ms"}.
  std::string ToJson() const;
  // Writes ToJson() to `path` (temp file + rename). Errors name the path.
  absl::Status Write(const std::string& path) const;

 private:
  mutable absl::Mutex mu_;
  StepTable table_ ABSL_GUARDED_BY(mu_){0};
  std::map<int, int> start_worker_ ABSL_GUARDED_BY(mu_);  // step index -> worker
  int64_t first_nanos_ ABSL_GUARDED_BY(mu_) = 0;
};

// buildctl-style metadata: {"containerimage.digest", "containerimage.config.digest",
// "image.name" (comma-separated names exported), "kiln.build.steps": [{index?, vertex, name,
// cached, started, completed, duration_seconds}], "kiln.build.steps_total",
// "kiln.build.steps_cached", "kiln.build.warnings": [{rule, message, description, url, file,
// line}] (the build checks)}. Written with temp file + rename.
std::string MetadataJson(const engine::BuildRequest& request, const engine::BuildResult& result,
                         const std::vector<engine::BuildEvent>& warnings = {});
absl::Status WriteMetadataFile(const std::string& path, const engine::BuildRequest& request,
                               const engine::BuildResult& result,
                               const std::vector<engine::BuildEvent>& warnings = {});

// Writes `content` to `path` atomically (temp file in the same dir, fsync, rename).
absl::Status WriteFileAtomically(const std::string& path, const std::string& content);

}  // namespace kiln::tools

#endif  // KILN_TOOLS_KILNCTL_PROGRESS_TRACE_H_
