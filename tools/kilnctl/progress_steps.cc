#include "tools/kilnctl/progress_steps.h"

#include "absl/strings/str_format.h"

namespace kiln::tools {

StepInfo& StepTable::Apply(const engine::BuildEvent& event, std::vector<std::string>* new_lines) {
  auto [it, inserted] = steps_.try_emplace(event.index);
  StepInfo& step = it->second;
  if (inserted) {
    step.index = event.index;
    step.vertex = event.vertex;
    step.started_nanos = event.time_unix_nanos;
  }
  if (!event.name.empty()) step.name = event.name;
  if (event.worker >= 0) step.worker = event.worker;
  switch (event.kind) {
    case engine::BuildEventKind::kStarted:
      step.state = StepState::kRunning;
      step.started_nanos = event.time_unix_nanos;
      break;
    case engine::BuildEventKind::kCached:
      step.state = StepState::kCached;
      step.ended_nanos = event.time_unix_nanos;
      break;
    case engine::BuildEventKind::kLog: {
      step.partial += event.data;
      size_t start = 0;
      for (size_t nl; (nl = step.partial.find('\n', start)) != std::string::npos; start = nl + 1) {
        std::string line = step.partial.substr(start, nl - start);
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (new_lines != nullptr) new_lines->push_back(line);
        step.tail.push_back(std::move(line));
        if (step.tail.size() > tail_lines_) step.tail.pop_front();
      }
      step.partial.erase(0, start);
      break;
    }
    case engine::BuildEventKind::kProgress:
      break;
    case engine::BuildEventKind::kCompleted:
      if (step.state != StepState::kError) {
        step.state = event.cached ? StepState::kCached : StepState::kDone;
      }
      step.ended_nanos = event.time_unix_nanos;
      break;
    case engine::BuildEventKind::kError:
      step.state = StepState::kError;
      step.error = event.error;
      step.ended_nanos = event.time_unix_nanos;
      if (!step.partial.empty()) {
        step.tail.push_back(step.partial);
        if (new_lines != nullptr) new_lines->push_back(step.partial);
        if (step.tail.size() > tail_lines_) step.tail.pop_front();
        step.partial.clear();
      }
      break;
  }
  return step;
}

int StepTable::CountIn(StepState state) const {
  int n = 0;
  for (const auto& [index, step] : steps_) n += step.state == state ? 1 : 0;
  return n;
}

const StepInfo* StepTable::Failed() const {
  for (const auto& [index, step] : steps_) {
    if (step.state == StepState::kError) return &step;
  }
  return nullptr;
}

std::string FormatSeconds(int64_t nanos) {
  if (nanos < 0) nanos = 0;
  return absl::StrFormat("%.1fs", static_cast<double>(nanos) / 1e9);
}

}  // namespace kiln::tools

namespace kiln::tools {

void PrintFailureSummary(FILE* out, const StepTable& table, const absl::Status& status) {
  const StepInfo* failed = table.Failed();
  if (failed != nullptr) {
    std::fprintf(out, "------\n > %s:\n", failed->name.c_str());
    for (const std::string& line : failed->tail) std::fprintf(out, "#%d %s\n", failed->index,
                                                               line.c_str());
    if (!failed->partial.empty()) std::fprintf(out, "#%d %s\n", failed->index,
                                               failed->partial.c_str());
    std::fprintf(out, "------\n");
  }
  std::fprintf(out, "ERROR: %s\n", std::string(status.message()).c_str());
  std::fflush(out);
}

}  // namespace kiln::tools
