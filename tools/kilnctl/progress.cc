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
  switch (mode) {
    case ProgressMode::kTty: return MakeTtyProgress(out);
    case ProgressMode::kRawJson: return MakeRawJsonProgress(out);
    case ProgressMode::kQuiet: return std::make_unique<QuietProgress>(out);
    case ProgressMode::kAuto:
    case ProgressMode::kPlain: break;
  }
  return MakePlainProgress(out);
}

}  // namespace kiln::tools
