#include "engine/solver/step_error.h"

#include <string>

#include "absl/strings/cord.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "base/status.h"

namespace kiln::engine::solver {
namespace {

constexpr char kExitCodeUrl[] = "kiln.dev/solver/exit-code";
constexpr char kVertexNameUrl[] = "kiln.dev/solver/vertex-name";
constexpr char kVertexDigestUrl[] = "kiln.dev/solver/vertex-digest";
constexpr char kLogTailUrl[] = "kiln.dev/solver/log-tail";

std::optional<std::string> PayloadOf(const absl::Status& status, const char* url) {
  auto payload = status.GetPayload(url);
  if (!payload.has_value()) return std::nullopt;
  return std::string(*payload);
}

}  // namespace

absl::Status ProcessExitError(std::string_view command, int exit_code) {
  absl::Status status(absl::StatusCode::kUnknown,
                      absl::StrCat("process \"", base::AsAbsl(command),
                                   "\" did not complete successfully: exit code: ", exit_code));
  status.SetPayload(kExitCodeUrl, absl::Cord(absl::StrCat(exit_code)));
  return status;
}

std::optional<int> ExitCodeOf(const absl::Status& status) {
  std::optional<std::string> text = PayloadOf(status, kExitCodeUrl);
  int code = 0;
  if (!text.has_value() || !absl::SimpleAtoi(*text, &code)) return std::nullopt;
  return code;
}

std::optional<StepFailure> StepFailureOf(const absl::Status& status) {
  std::optional<std::string> name = PayloadOf(status, kVertexNameUrl);
  if (!name.has_value()) return std::nullopt;
  StepFailure failure;
  failure.vertex_name = *name;
  failure.vertex_digest = PayloadOf(status, kVertexDigestUrl).value_or("");
  failure.exit_code = ExitCodeOf(status);
  std::string tail = PayloadOf(status, kLogTailUrl).value_or("");
  if (!tail.empty()) failure.log_tail = absl::StrSplit(tail, '\n');
  return failure;
}

namespace internal {

absl::Status MakeStepError(const absl::Status& cause, std::string_view vertex_name,
                           std::string_view vertex_digest,
                           const std::vector<std::string>& log_tail,
                           std::string_view location) {
  std::string message = absl::StrCat(base::AsAbsl(location), location.empty() ? "" : ": ",
                                     "step '", base::AsAbsl(vertex_name), "': ", cause.message());
  if (!log_tail.empty()) {
    absl::StrAppend(&message, "\nlast ", log_tail.size(), " lines of output:");
    for (const std::string& line : log_tail) absl::StrAppend(&message, "\n  > ", line);
  }
  absl::Status status(cause.code(), message);
  std::optional<int> exit_code = ExitCodeOf(cause);
  if (exit_code.has_value()) status.SetPayload(kExitCodeUrl, absl::Cord(absl::StrCat(*exit_code)));
  status.SetPayload(kVertexNameUrl, absl::Cord(base::AsAbsl(vertex_name)));
  status.SetPayload(kVertexDigestUrl, absl::Cord(base::AsAbsl(vertex_digest)));
  status.SetPayload(kLogTailUrl, absl::Cord(absl::StrJoin(log_tail, "\n")));
  return status;
}

}  // namespace internal
}  // namespace kiln::engine::solver
