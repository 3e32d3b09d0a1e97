#include "tools/kilnctl/progress.h"

#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "base/status.h"
#include "tools/kilnctl/progress_steps.h"

namespace kiln::tools {
namespace {

// Prints nothing while the build runs; on failure the same summary as the other views.
class QuietProgress : public ProgressWriter {
 public:
  explicit QuietProgress(FILE* out) : out_(out) {}
  void OnEvent(const engine::BuildEvent& event) override {
    absl::MutexLock lock(&mu_);
    table_.Apply(event);
  }
  void Finish(const engine::BuildResult*, const absl::Status& status) override {
    absl::MutexLock lock(&mu_);
    if (!status.ok()) PrintFailureSummary(out_, table_, status);
  }

 private:
  FILE* const out_;
  absl::Mutex mu_;
  StepTable table_ ABSL_GUARDED_BY(mu_);
};

// Build checks (kWarning events) are not steps: the views never see them; they are listed
// after the build, as buildx does ("2 warnings found: ..."). rawjson gets them as events.
class WithWarnings : public ProgressWriter {
 public:
  WithWarnings(std::unique_ptr<ProgressWriter> inner, FILE* out, bool as_events)
      : inner_(std::move(inner)), out_(out), as_events_(as_events) {}
  void OnEvent(const engine::BuildEvent& event) override {
    if (event.kind != engine::BuildEventKind::kWarning || as_events_) {
      inner_->OnEvent(event);
      return;
    }
    absl::MutexLock lock(&mu_);
    warnings_.push_back(event.name);
  }
  void Finish(const engine::BuildResult* result, const absl::Status& status) override {
    inner_->Finish(result, status);
    absl::MutexLock lock(&mu_);
    if (warnings_.empty()) return;
    std::fprintf(out_, "\n%zu warning%s found:\n", warnings_.size(),
                 warnings_.size() == 1 ? "" : "s");
    for (const std::string& w : warnings_) std::fprintf(out_, " - %s\n", w.c_str());
    std::fflush(out_);
  }

 private:
  std::unique_ptr<ProgressWriter> inner_;
  FILE* const out_;
  const bool as_events_;
  absl::Mutex mu_;
  std::vector<std::string> warnings_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

absl::StatusOr<ProgressMode> ParseProgressMode(std::string_view text) {
  if (text == "auto" || text.empty()) return ProgressMode::kAuto;
  if (text == "tty") return ProgressMode::kTty;
  if (text == "plain") return ProgressMode::kPlain;
  if (text == "rawjson") return ProgressMode::kRawJson;
  if (text == "quiet") return ProgressMode::kQuiet;
  return absl::InvalidArgumentError(absl::StrCat(
      "bad --progress '", base::AsAbsl(text), "', expected auto, tty, plain, rawjson or quiet"));
}

std::unique_ptr<ProgressWriter> MakeProgressWriter(ProgressMode mode, FILE* out) {
  if (mode == ProgressMode::kAuto) {
    mode = isatty(fileno(out)) ? ProgressMode::kTty : ProgressMode::kPlain;
  }
  std::unique_ptr<ProgressWriter> view;
  switch (mode) {
    case ProgressMode::kTty:
      view = MakeTtyProgress(out);
      break;
    case ProgressMode::kRawJson:
      view = MakeRawJsonProgress(out);
      break;
    case ProgressMode::kQuiet:
      view = std::make_unique<QuietProgress>(out);
      break;
    case ProgressMode::kAuto:
    case ProgressMode::kPlain:
      view = MakePlainProgress(out);
      break;
  }
  return std::make_unique<WithWarnings>(std::move(view), out, mode == ProgressMode::kRawJson);
}

}  // namespace kiln::tools
