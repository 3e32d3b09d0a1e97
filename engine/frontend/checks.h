// Build checks: BuildKit's Dockerfile lint rules (docs.docker.com/reference/build-checks),
// with the same rule names, messages, defaults and configuration.
//
// Rules run in two places, as in BuildKit: while instructions are parsed (every stage:
// casing, stage names, MAINTAINER, definition comments, empty continuations) and while the
// stages the target reaches are lowered (variables, WORKDIR, CMD/ENTRYPOINT form, EXPOSE,
// secrets in ARG/ENV, COPY of ignored files, FROM arguments and platforms). Both record into
// a CheckRecorder; FilterChecks then applies the build-wide configuration.
//
// Configuration, as BuildKit: the `# check=skip=A,B;error=true;experimental=all` directive,
// replaced as a whole by the build arg BUILDKIT_DOCKERFILE_CHECK; a `# check=...` comment
// directly above an instruction adds to it for that instruction. Experimental rules
// (InvalidDefinitionDescription) run only when enabled. With error=true a build that has a
// warning fails before any step runs.
//
// Pure values and functions; thread-compatible.
#ifndef KILN_ENGINE_FRONTEND_CHECKS_H_
#define KILN_ENGINE_FRONTEND_CHECKS_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace kiln::engine {

struct CheckRule {
  std::string_view name;
  std::string_view description;
  bool experimental = false;
  std::string Url() const;  // https://docs.docker.com/go/dockerfile/rule/<kebab-name>/
};

// Every rule Kiln implements, in BuildKit's order.
const std::vector<CheckRule>& AllCheckRules();
// The rule named `name`, or nullptr.
const CheckRule* FindCheckRule(std::string_view name);

struct CheckConfig {
  bool skip_all = false;
  std::vector<std::string> skip;
  bool experimental_all = false;
  std::vector<std::string> experimental;
  bool error = false;

  bool Skips(std::string_view rule) const;
  bool Enables(std::string_view rule) const;  // experimental rules
};

// Parses "skip=A,B;error=true;experimental=all" (BuildKit's ParseLintOptions). InvalidArgument
// naming the bad part. Unknown rule names are accepted, as in BuildKit.
absl::StatusOr<CheckConfig> ParseCheckConfig(std::string_view text);

// The config of `# check=...` comments directly above an instruction (their text without
// '#'); invalid ones are ignored, as in BuildKit.
CheckConfig CommentCheckConfig(const std::vector<std::string>& comments);

struct CheckWarning {
  std::string rule;
  std::string description;
  std::string url;
  std::string message;  // "Stage name 'Builder' should be lowercase"
  std::string file;
  int line = 0;
  CheckConfig local;  // from comments above the instruction

  // "StageNameCasing: Stage name 'Builder' should be lowercase (Dockerfile:3)"
  std::string Short() const;
  friend bool operator==(const CheckWarning& a, const CheckWarning& b) {
    return a.rule == b.rule && a.message == b.message && a.file == b.file && a.line == b.line;
  }
};

class CheckRecorder {
 public:
  explicit CheckRecorder(std::string file) : file_(std::move(file)) {}
  void Report(const CheckRule& rule, int line, std::string message,
              const std::vector<std::string>* comments = nullptr);
  const std::vector<CheckWarning>& warnings() const { return warnings_; }
  std::vector<CheckWarning> Take() { return std::move(warnings_); }

 private:
  std::string file_;
  std::vector<CheckWarning> warnings_;
};

// Drops what `global` (plus each warning's local config) skips, experimental rules not
// enabled, and exact repeats; keeps the order.
std::vector<CheckWarning> FilterChecks(std::vector<CheckWarning> warnings,
                                       const CheckConfig& global);

// FailedPrecondition "lint violation found for rules: A, B" (first-seen order), or OK when
// `warnings` is empty.
absl::Status CheckViolation(const std::vector<CheckWarning>& warnings);

// BuildKit's suggestion: the option closest to `value` by edit distance (< 3), or "".
std::string SuggestName(std::string_view value, const std::vector<std::string>& options);

// Rules over the raw Dockerfile, all stages (called by ParseInstructions).
namespace checks {
// NoEmptyContinuation at `line`.
void EmptyContinuation(CheckRecorder& r, int line);
// StageNameCasing, FromAsCasing, InvalidDefinitionDescription for a FROM whose keyword is
// written `keyword_as_written` and whose arguments are `args` (image [AS name]).
void FromLine(CheckRecorder& r, int line, std::string_view keyword_as_written,
              const std::vector<std::string>& args, const std::vector<std::string>& comments);
// MaintainerDeprecated.
void Maintainer(CheckRecorder& r, int line, const std::vector<std::string>& comments);
// InvalidDefinitionDescription (experimental) for the names an ARG ("ARG") or a FROM
// ("FROM", its stage name) defines, with the comments directly above it.
void DefinitionDescription(CheckRecorder& r, std::string_view instruction, int line,
                           const std::vector<std::string>& keys,
                           const std::vector<std::string>& comments);
// DuplicateStageName and ReservedStageName, stage names in order (lower-cased; "" unnamed).
void StageNames(CheckRecorder& r, const std::vector<std::string>& names,
                const std::vector<int>& lines,
                const std::vector<const std::vector<std::string>*>& comments);
// ConsistentInstructionCasing over every FROM and command of every stage, as written.
struct WrittenKeyword {
  std::string keyword;
  int line = 0;
  const std::vector<std::string>* comments = nullptr;
};
void InstructionCasing(CheckRecorder& r, const std::vector<WrittenKeyword>& keywords);
// SecretsUsedInArgOrEnv for `key` of an ARG or ENV.
void SecretKey(CheckRecorder& r, std::string_view instruction, std::string_view key, int line,
               const std::vector<std::string>* comments);
// ExposeProtoCasing / ExposeInvalidFormat for one expanded EXPOSE word.
void ExposePort(CheckRecorder& r, std::string_view port, int line,
                const std::vector<std::string>* comments);
}  // namespace checks

}  // namespace kiln::engine

#endif  // KILN_ENGINE_FRONTEND_CHECKS_H_
