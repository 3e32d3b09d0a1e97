// tty progress: finished steps are printed once, in the order they finish; below them a live
// area is redrawn (on every event and every 100 ms) with one line per running step and its
// running timer, the last few lines of its output, and a "[+] Building" header line. The end
// is a summary line (steps, cached, time).
#include <sys/ioctl.h>
#include <unistd.h>

#include <cstdio>
#include <set>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "tools/kilnctl/progress.h"
#include "tools/kilnctl/progress_steps.h"

namespace kiln::tools {
namespace {

constexpr size_t kLiveLogLines = 3;

int TerminalColumns(FILE* out) {
  winsize ws{};
  if (ioctl(fileno(out), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 20) return ws.ws_col;
  return 80;
}

// "left ... right" fitted to `columns`.
std::string Fit(std::string left, const std::string& right, int columns) {
  size_t width = static_cast<size_t>(columns > 20 ? columns - 1 : 79);
  size_t room = width > right.size() + 1 ? width - right.size() - 1 : 0;
  for (char& c : left) {
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  }
  if (left.size() > room) left = room > 3 ? left.substr(0, room - 3) + "..." : left.substr(0, room);
  return left + std::string(room - left.size() + 1, ' ') + right;
}

class TtyProgress : public ProgressWriter {
 public:
  TtyProgress(FILE* out, int columns)
      : out_(out), columns_(columns > 0 ? columns : TerminalColumns(out)), start_(absl::Now()) {
    ticker_ = std::thread([this] { Tick(); });
  }
  ~TtyProgress() override { StopTicker(); }

  void OnEvent(const engine::BuildEvent& event) override {
    absl::MutexLock lock(&mu_);
    StepInfo& step = table_.Apply(event);
    if (step.state != StepState::kRunning && !printed_.contains(step.index)) {
      to_print_.push_back(step.index);
      printed_.insert(step.index);
    }
    Redraw();
  }

  void Finish(const engine::BuildResult* result, const absl::Status& status) override {
    StopTicker();
    absl::MutexLock lock(&mu_);
    finished_ = true;
    Redraw();
    std::string elapsed = FormatSeconds(absl::ToInt64Nanoseconds(absl::Now() - start_));
    int steps = result != nullptr && result->steps_total > 0
                    ? result->steps_total
                    : static_cast<int>(table_.steps().size());
    int cached = result != nullptr ? result->steps_cached
                                   : table_.CountIn(StepState::kCached);
    if (status.ok()) {
      std::fprintf(out_, "Build finished in %s: %d steps, %d cached\n", elapsed.c_str(), steps,
                   cached);
    } else {
      PrintFailureSummary(out_, table_, status);
      std::fprintf(out_, "Build failed after %s: %d steps, %d cached\n", elapsed.c_str(), steps,
                   cached);
    }
    std::fflush(out_);
  }

 private:
  void Tick() {
    absl::MutexLock lock(&mu_);
    while (!stop_) {
      mu_.AwaitWithTimeout(absl::Condition(&stop_), absl::Milliseconds(100));
      if (!stop_) Redraw();
    }
  }

  void StopTicker() {
    {
      absl::MutexLock lock(&mu_);
      stop_ = true;
    }
    if (ticker_.joinable()) ticker_.join();
  }

  std::string StatusText(const StepInfo& step, int64_t now) const {
    switch (step.state) {
      case StepState::kCached: return "CACHED";
      case StepState::kError: return "ERROR";
      case StepState::kDone: return "DONE " + FormatSeconds(step.ended_nanos - step.started_nanos);
      case StepState::kRunning: return FormatSeconds(now - step.started_nanos);
    }
    return "";
  }

  void Redraw() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    std::string frame;
    if (live_lines_ > 0) frame = absl::StrFormat("\x1b[%dF\x1b[J", live_lines_);
    int64_t now = absl::ToUnixNanos(absl::Now());
    for (int index : to_print_) {
      const StepInfo& step = table_.steps().at(index);
      absl::StrAppend(&frame, Fit(absl::StrCat("#", index, " ", step.name),
                                  StatusText(step, now), columns_), "\n");
    }
    to_print_.clear();
    live_lines_ = 0;
    if (!finished_) {
      for (const auto& [index, step] : table_.steps()) {
        if (step.state != StepState::kRunning) continue;
        absl::StrAppend(&frame, Fit(absl::StrCat("#", index, " ", step.name),
                                    StatusText(step, now), columns_), "\n");
        ++live_lines_;
        size_t skip = step.tail.size() > kLiveLogLines ? step.tail.size() - kLiveLogLines : 0;
        for (size_t i = skip; i < step.tail.size(); ++i) {
          absl::StrAppend(&frame, Fit("  > " + step.tail[i], "", columns_), "\n");
          ++live_lines_;
        }
      }
      int done = static_cast<int>(table_.steps().size()) - table_.CountIn(StepState::kRunning);
      absl::StrAppend(&frame,
                      Fit(absl::StrCat("[+] Building ", done, "/", table_.steps().size()),
                          FormatSeconds(absl::ToInt64Nanoseconds(absl::Now() - start_)),
                          columns_),
                      "\n");
      ++live_lines_;
    }
    std::fputs(frame.c_str(), out_);
    std::fflush(out_);
  }

  FILE* const out_;
  const int columns_;
  const absl::Time start_;
  absl::Mutex mu_;
  StepTable table_ ABSL_GUARDED_BY(mu_);
  std::vector<int> to_print_ ABSL_GUARDED_BY(mu_);
  std::set<int> printed_ ABSL_GUARDED_BY(mu_);
  int live_lines_ ABSL_GUARDED_BY(mu_) = 0;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  std::thread ticker_;
};

}  // namespace

std::unique_ptr<ProgressWriter> MakeTtyProgress(FILE* out, int columns) {
  return std::make_unique<TtyProgress>(out, columns);
}

}  // namespace kiln::tools
