// Progress views of a build for kilnctl: tty (live, redrawing), plain (BuildKit's plain
// format), rawjson (one JSON event per line) and quiet. They consume engine::BuildEvents, so
// they work the same for builds through kilnd and in-process.
//
// Thread safety: OnEvent/Finish may be called from any thread; writers serialize internally.
#ifndef KILN_TOOLS_KILNCTL_PROGRESS_H_
#define KILN_TOOLS_KILNCTL_PROGRESS_H_

#include <cstdio>
#include <memory>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engine/core/engine.h"
#include "engine/core/events.h"

namespace kiln::tools {

enum class ProgressMode { kAuto, kTty, kPlain, kRawJson, kQuiet };

// "auto", "tty", "plain", "rawjson", "quiet". InvalidArgument otherwise.
absl::StatusOr<ProgressMode> ParseProgressMode(std::string_view text);

class ProgressWriter {
 public:
  virtual ~ProgressWriter() = default;
  virtual void OnEvent(const engine::BuildEvent& event) = 0;
  // Called once when the build ends: `result` on success (else nullptr) and the final status.
  // Failure views print the failing step's log tail and the error.
  virtual void Finish(const engine::BuildResult* result, const absl::Status& status) = 0;
};

// kAuto picks tty when `out` is a terminal, else plain. `out` is not owned.
std::unique_ptr<ProgressWriter> MakeProgressWriter(ProgressMode mode, FILE* out);

std::unique_ptr<ProgressWriter> MakePlainProgress(FILE* out);
std::unique_ptr<ProgressWriter> MakeRawJsonProgress(FILE* out);
// `columns` = 0 reads the terminal width of `out` (80 if unknown).
std::unique_ptr<ProgressWriter> MakeTtyProgress(FILE* out, int columns = 0);

}  // namespace kiln::tools

#endif  // KILN_TOOLS_KILNCTL_PROGRESS_H_
