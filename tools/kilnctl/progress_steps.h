// StepTable: the per-step state the progress views share (number, name, status, times and
// the tail of its output), built from BuildEvents. Not thread-safe; its owners lock.
#ifndef KILN_TOOLS_KILNCTL_PROGRESS_STEPS_H_
#define KILN_TOOLS_KILNCTL_PROGRESS_STEPS_H_

#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <vector>

#include "engine/core/events.h"

namespace kiln::tools {

enum class StepState { kRunning, kCached, kDone, kError };

struct StepInfo {
  int index = 0;
  std::string vertex;
  std::string name;
  StepState state = StepState::kRunning;
  int64_t started_nanos = 0;
  int64_t ended_nanos = 0;
  int worker = -1;
  std::string error;
  std::deque<std::string> tail;  // last complete output lines
  std::string partial;           // output after the last '\n'
};

class StepTable {
 public:
  explicit StepTable(size_t tail_lines = 10) : tail_lines_(tail_lines) {}

  // Applies an event; returns the step it touched. Log data is split into lines; each
  // completed line is appended to `new_lines` if non-null.
  StepInfo& Apply(const engine::BuildEvent& event, std::vector<std::string>* new_lines = nullptr);

  // Steps by number (index), ascending.
  const std::map<int, StepInfo>& steps() const { return steps_; }
  int CountIn(StepState state) const;
  // The first step in kError state, or nullptr.
  const StepInfo* Failed() const;

 private:
  size_t tail_lines_;
  std::map<int, StepInfo> steps_;
};

// "1.2s" / "0.0s" for a nanosecond duration (BuildKit's one-decimal seconds).
std::string FormatSeconds(int64_t nanos);

}  // namespace kiln::tools


#include <cstdio>

#include "absl/status/status.h"

namespace kiln::tools {

// Prints the failing step's output tail and the error, BuildKit style:
//   ------
//    > [builder 3/4] RUN go build .:
//   <last lines>
//   ------
//   ERROR: <status message>
void PrintFailureSummary(FILE* out, const StepTable& table, const absl::Status& status);

}  // namespace kiln::tools

#endif  // KILN_TOOLS_KILNCTL_PROGRESS_STEPS_H_
