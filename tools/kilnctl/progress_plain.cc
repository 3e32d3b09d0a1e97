// BuildKit's plain progress format:
//   #3 [builder 3/4] RUN go build .
//   #3 0.512 <log line>
//   #3 DONE 1.2s
//   #2 CACHED
//   #4 ERROR: <message>
#include <cstdio>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "tools/kilnctl/progress.h"
#include "tools/kilnctl/progress_steps.h"

namespace kiln::tools {
namespace {

class PlainProgress : public ProgressWriter {
 public:
  explicit PlainProgress(FILE* out) : out_(out) {}

  void OnEvent(const engine::BuildEvent& event) override {
    absl::MutexLock lock(&mu_);
    std::vector<std::string> lines;
    StepInfo& step = table_.Apply(event, &lines);
    using K = engine::BuildEventKind;
    if (event.kind == K::kProgress && (event.total == 0 || event.current != event.total)) return;
    if (event.kind == K::kLog && lines.empty()) return;
    // A cache hit arrives as kCached and then kCompleted{cached}; BuildKit prints one CACHED.
    bool cached_line = event.kind == K::kCached || (event.kind == K::kCompleted && event.cached);
    if (cached_line && !cached_printed_.insert(step.index).second) return;
    Header(step);
    switch (event.kind) {
      case K::kStarted: break;
      case K::kCached: std::fprintf(out_, "#%d CACHED\n", step.index); break;
      case K::kLog: {
        double at = static_cast<double>(event.time_unix_nanos - step.started_nanos) / 1e9;
        for (const std::string& line : lines) {
          std::fprintf(out_, "#%d %.3f %s\n", step.index, at < 0 ? 0.0 : at, line.c_str());
        }
        break;
      }
      case K::kProgress:
        std::fprintf(out_, "#%d %lld/%lld done\n", step.index,
                     static_cast<long long>(event.current), static_cast<long long>(event.total));
        break;
      case K::kCompleted:
        if (event.cached) {
          std::fprintf(out_, "#%d CACHED\n", step.index);
        } else {
          std::fprintf(out_, "#%d DONE %s\n", step.index,
                       FormatSeconds(step.ended_nanos - step.started_nanos).c_str());
        }
        break;
      case K::kError: std::fprintf(out_, "#%d ERROR: %s\n", step.index, event.error.c_str()); break;
    }
    std::fflush(out_);
  }

  void Finish(const engine::BuildResult*, const absl::Status& status) override {
    absl::MutexLock lock(&mu_);
    if (!status.ok()) {
      std::fprintf(out_, "\n");
      PrintFailureSummary(out_, table_, status);
    }
  }

 private:
  // Prints "\n#N name" when output switches to another step, as BuildKit does.
  void Header(const StepInfo& step) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (step.index == last_index_) return;
    std::fprintf(out_, "%s#%d %s\n", last_index_ == 0 ? "" : "\n", step.index, step.name.c_str());
    last_index_ = step.index;
  }

  FILE* const out_;
  absl::Mutex mu_;
  StepTable table_ ABSL_GUARDED_BY(mu_);
  int last_index_ ABSL_GUARDED_BY(mu_) = 0;
  absl::flat_hash_set<int> cached_printed_ ABSL_GUARDED_BY(mu_);  // steps shown as CACHED
};

}  // namespace

std::unique_ptr<ProgressWriter> MakePlainProgress(FILE* out) {
  return std::make_unique<PlainProgress>(out);
}

}  // namespace kiln::tools
