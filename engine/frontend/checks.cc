#include "engine/frontend/checks.h"

#include <algorithm>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "base/status.h"

namespace kiln::engine {
namespace {

using base::AsAbsl;

std::string_view Strip(std::string_view s) {
  absl::string_view r = absl::StripAsciiWhitespace(AsAbsl(s));
  return {r.data(), r.size()};
}
std::string Lower(std::string_view s) { return absl::AsciiStrToLower(AsAbsl(s)); }
std::string Upper(std::string_view s) { return absl::AsciiStrToUpper(AsAbsl(s)); }

struct RuleRow {
  CheckRule rule;
  std::string_view slug;
};

const std::vector<RuleRow>& Rows() {
  static const auto* rows = new std::vector<RuleRow>{
      {{"StageNameCasing", "Stage names should be lowercase"}, "stage-name-casing"},
      {{"FromAsCasing", "The 'as' keyword should match the case of the 'from' keyword"},
       "from-as-casing"},
      {{"NoEmptyContinuation", "Empty continuation lines will become errors in a future release"},
       "no-empty-continuation"},
      {{"ConsistentInstructionCasing",
        "All commands within the Dockerfile should use the same casing (either upper or lower)"},
       "consistent-instruction-casing"},
      {{"DuplicateStageName", "Stage names should be unique"}, "duplicate-stage-name"},
      {{"ReservedStageName", "Reserved words should not be used as stage names"},
       "reserved-stage-name"},
      {{"JSONArgsRecommended",
        "JSON arguments recommended for ENTRYPOINT/CMD to prevent unintended behavior related "
        "to OS signals"},
       "json-args-recommended"},
      {{"MaintainerDeprecated",
        "The MAINTAINER instruction is deprecated, use a label instead to define an image author"},
       "maintainer-deprecated"},
      {{"UndefinedArgInFrom", "FROM command must use declared ARGs"}, "undefined-arg-in-from"},
      {{"WorkdirRelativePath",
        "Relative workdir without an absolute workdir declared within the build can have "
        "unexpected results if the base image changes"},
       "workdir-relative-path"},
      {{"UndefinedVar", "Variables should be defined before their use"}, "undefined-var"},
      {{"MultipleInstructionsDisallowed",
        "Multiple instructions of the same type should not be used in the same stage"},
       "multiple-instructions-disallowed"},
      {{"LegacyKeyValueFormat",
        "Legacy key/value format with whitespace separator should not be used"},
       "legacy-key-value-format"},
      {{"RedundantTargetPlatform",
        "Setting platform to predefined $TARGETPLATFORM in FROM is redundant as this is the "
        "default behavior"},
       "redundant-target-platform"},
      {{"SecretsUsedInArgOrEnv", "Sensitive data should not be used in the ARG or ENV commands"},
       "secrets-used-in-arg-or-env"},
      {{"InvalidDefaultArgInFrom",
        "Default value for global ARG results in an empty or invalid base image name"},
       "invalid-default-arg-in-from"},
      {{"FromPlatformFlagConstDisallowed", "FROM --platform flag should not use a constant value"},
       "from-platform-flag-const-disallowed"},
      {{"CopyIgnoredFile", "Attempting to Copy file that is excluded by .dockerignore"},
       "copy-ignored-file"},
      {{"InvalidDefinitionDescription",
        "Comment for build stage or argument should follow the format: `# <arg/stage name> "
        "<description>`. If this is not intended to be a description comment, add an empty line "
        "or comment between the instruction and the comment.",
        /*experimental=*/true},
       "invalid-definition-description"},
      {{"ExposeProtoCasing", "Protocol in EXPOSE instruction should be lowercase"},
       "expose-proto-casing"},
      {{"ExposeInvalidFormat",
        "IP address and host-port mapping should not be used in EXPOSE instruction. This will "
        "become an error in a future release"},
       "expose-invalid-format"},
  };
  return *rows;
}

const CheckRule& Rule(std::string_view name) {
  const CheckRule* r = FindCheckRule(name);
  if (r == nullptr) std::abort();  // a typo in this file; caught by every test
  return *r;
}

bool Contains(const std::vector<std::string>& v, std::string_view s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

std::vector<std::string> SplitTrimmed(std::string_view v) {
  std::vector<std::string> out;
  for (absl::string_view p : absl::StrSplit(AsAbsl(v), ',')) {
    out.emplace_back(Strip(std::string_view(p.data(), p.size())));
  }
  return out;
}

bool IsLower(std::string_view s) { return Lower(s) == s; }
bool IsUpper(std::string_view s) { return Upper(s) == s; }

// Levenshtein distance (unit costs).
size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t sub = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, sub});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

// BuildKit's secret-name tokens: a key matches when one of them is the whole key or one of
// its '_'-separated words; the allow tokens cancel it.
bool HasToken(std::string_view key, std::initializer_list<std::string_view> tokens) {
  std::string lower = Lower(key);
  for (std::string_view t : tokens) {
    for (size_t pos = lower.find(t); pos != std::string::npos; pos = lower.find(t, pos + 1)) {
      bool start = pos == 0 || lower[pos - 1] == '_';
      size_t end = pos + t.size();
      bool stop = end == lower.size() || lower[end] == '_';
      if (start && stop) return true;
    }
  }
  return false;
}

}  // namespace

std::string CheckRule::Url() const {
  for (const RuleRow& row : Rows()) {
    if (row.rule.name == name) {
      return absl::StrCat("https://docs.docker.com/go/dockerfile/rule/", AsAbsl(row.slug), "/");
    }
  }
  return "";
}

const std::vector<CheckRule>& AllCheckRules() {
  static const auto* rules = [] {
    auto* v = new std::vector<CheckRule>;
    for (const RuleRow& row : Rows()) v->push_back(row.rule);
    return v;
  }();
  return *rules;
}

const CheckRule* FindCheckRule(std::string_view name) {
  for (const RuleRow& row : Rows()) {
    if (row.rule.name == name) return &row.rule;
  }
  return nullptr;
}

bool CheckConfig::Skips(std::string_view rule) const { return skip_all || Contains(skip, rule); }
bool CheckConfig::Enables(std::string_view rule) const {
  return experimental_all || Contains(experimental, rule);
}

absl::StatusOr<CheckConfig> ParseCheckConfig(std::string_view text) {
  CheckConfig c;
  text = Strip(text);
  if (text.empty()) return c;
  std::vector<absl::string_view> parts = absl::StrSplit(AsAbsl(text), absl::MaxSplits(';', 2));
  for (absl::string_view ap : parts) {
    std::string_view p(ap.data(), ap.size());
    size_t eq = p.find('=');
    if (eq == std::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("invalid check option \"", AsAbsl(p),
                       "\": expected skip=RULE,..., error=true|false or experimental=RULE,..."));
    }
    std::string_view k = Strip(p.substr(0, eq));
    std::string_view v = Strip(p.substr(eq + 1));
    if (k == "skip") {
      if (v == "all") {
        c.skip_all = true;
      } else {
        c.skip = SplitTrimmed(v);
      }
    } else if (k == "experimental") {
      if (v == "all") {
        c.experimental_all = true;
      } else {
        c.experimental = SplitTrimmed(v);
      }
    } else if (k == "error") {
      // Go's strconv.ParseBool.
      static const char* const kTrue[] = {"1", "t", "T", "TRUE", "true", "True"};
      static const char* const kFalse[] = {"0", "f", "F", "FALSE", "false", "False"};
      bool t =
          std::any_of(std::begin(kTrue), std::end(kTrue), [&](const char* s) { return v == s; });
      bool f =
          std::any_of(std::begin(kFalse), std::end(kFalse), [&](const char* s) { return v == s; });
      if (!t && !f) {
        return absl::InvalidArgumentError(absl::StrCat("invalid check option \"", AsAbsl(p),
                                                       "\": expected error=true or error=false"));
      }
      c.error = t;
    } else {
      return absl::InvalidArgumentError(absl::StrCat("invalid check option \"", AsAbsl(k),
                                                     "\": expected skip, error or experimental"));
    }
  }
  return c;
}

CheckConfig CommentCheckConfig(const std::vector<std::string>& comments) {
  // BuildKit: the first comment that is a `check=` directive, its value up to a space.
  for (const std::string& c : comments) {
    std::string_view t = Strip(c);
    size_t eq = t.find('=');
    if (eq == std::string_view::npos) continue;
    std::string_view name = Strip(t.substr(0, eq));
    if (Lower(name) != "check") continue;
    std::string_view value = Strip(t.substr(eq + 1));
    value = value.substr(0, value.find(' '));
    absl::StatusOr<CheckConfig> cfg = ParseCheckConfig(value);
    return cfg.ok() ? *cfg : CheckConfig{};
  }
  return {};
}

std::string CheckWarning::Short() const {
  return absl::StrCat(rule, ": ", message, " (", file, ":", line, ")");
}

void CheckRecorder::Report(const CheckRule& rule, int line, std::string message,
                           const std::vector<std::string>* comments) {
  CheckWarning w;
  w.rule = std::string(rule.name);
  w.description = std::string(rule.description);
  w.url = rule.Url();
  w.message = std::move(message);
  w.file = file_;
  w.line = line;
  if (comments != nullptr) w.local = CommentCheckConfig(*comments);
  warnings_.push_back(std::move(w));
}

std::vector<CheckWarning> FilterChecks(std::vector<CheckWarning> warnings,
                                       const CheckConfig& global) {
  std::vector<CheckWarning> out;
  for (CheckWarning& w : warnings) {
    const CheckRule* rule = FindCheckRule(w.rule);
    if (rule != nullptr && rule->experimental) {
      if (!global.Enables(w.rule) && !w.local.Enables(w.rule)) continue;
    } else if (global.Skips(w.rule) || w.local.Skips(w.rule)) {
      continue;
    }
    if (std::find(out.begin(), out.end(), w) != out.end()) continue;
    out.push_back(std::move(w));
  }
  return out;
}

absl::Status CheckViolation(const std::vector<CheckWarning>& warnings) {
  if (warnings.empty()) return absl::OkStatus();
  std::vector<std::string> rules;
  for (const CheckWarning& w : warnings) {
    if (!Contains(rules, w.rule)) rules.push_back(w.rule);
  }
  return absl::FailedPreconditionError(
      absl::StrCat("lint violation found for rules: ", absl::StrJoin(rules, ", ")));
}

std::string SuggestName(std::string_view value, const std::vector<std::string>& options) {
  std::string match;
  size_t best = 3;
  for (const std::string& o : options) {
    if (o == value) return "";  // an exact match: nothing to suggest
    size_t d = EditDistance(value, o);
    if (d < best) {
      match = o;
      best = d;
    }
  }
  return match;
}

namespace checks {

void EmptyContinuation(CheckRecorder& r, int line) {
  r.Report(Rule("NoEmptyContinuation"), line, "Empty continuation line");
}

void FromLine(CheckRecorder& r, int line, std::string_view keyword_as_written,
              const std::vector<std::string>& args, const std::vector<std::string>& comments) {
  if (args.size() == 3) {
    if (!IsLower(args[2])) {
      r.Report(Rule("StageNameCasing"), line,
               absl::StrCat("Stage name '", args[2], "' should be lowercase"), &comments);
    }
    const bool lower = IsLower(keyword_as_written), upper = IsUpper(keyword_as_written);
    if ((lower && !IsLower(args[1])) || (!lower && upper && !IsUpper(args[1]))) {
      r.Report(Rule("FromAsCasing"), line,
               absl::StrCat("'", args[1], "' and '", AsAbsl(keyword_as_written),
                            "' keywords' casing do not match"),
               &comments);
    }
    DefinitionDescription(r, "FROM", line, {Lower(args[2])}, comments);
  }
}

void Maintainer(CheckRecorder& r, int line, const std::vector<std::string>& comments) {
  r.Report(Rule("MaintainerDeprecated"), line,
           "Maintainer instruction is deprecated in favor of using label", &comments);
}

void DefinitionDescription(CheckRecorder& r, std::string_view instruction, int line,
                           const std::vector<std::string>& keys,
                           const std::vector<std::string>& comments) {
  if (comments.empty() || keys.empty()) return;
  const std::string& last = comments.back();
  std::string_view first = std::string_view(last).substr(0, last.find(' '));
  if (Contains(keys, first)) return;
  std::string example = keys.size() > 1 ? "<arg_key>" : keys[0];
  r.Report(Rule("InvalidDefinitionDescription"), line,
           absl::StrCat("Comment for ", AsAbsl(instruction), " should follow the format: `# ",
                        example, " <description>`"),
           &comments);
}

void StageNames(CheckRecorder& r, const std::vector<std::string>& names,
                const std::vector<int>& lines,
                const std::vector<const std::vector<std::string>*>& comments) {
  std::vector<std::string> seen;
  for (size_t i = 0; i < names.size(); ++i) {
    const std::string& n = names[i];
    if (n.empty()) continue;
    if (n == "context" || n == "scratch") {
      r.Report(
          Rule("ReservedStageName"), lines[i],
          absl::StrCat("Stage name should not use the same name as reserved stage \"", n, "\""),
          comments[i]);
    }
    if (Contains(seen, n)) {
      r.Report(Rule("DuplicateStageName"), lines[i],
               absl::StrCat("Duplicate stage name \"", n, "\", stage names should be unique"),
               comments[i]);
    }
    seen.push_back(n);
  }
}

void InstructionCasing(CheckRecorder& r, const std::vector<WrittenKeyword>& keywords) {
  int lower = 0, upper = 0;
  for (const WrittenKeyword& k : keywords) {
    if (IsLower(k.keyword)) {
      ++lower;
    } else if (IsUpper(k.keyword)) {
      ++upper;
    }
  }
  const bool majority_lower = lower > upper;
  for (const WrittenKeyword& k : keywords) {
    std::string_view want;
    if (majority_lower && !IsLower(k.keyword)) {
      want = "lowercase";
    } else if (!majority_lower && !IsUpper(k.keyword)) {
      want = "uppercase";
    }
    if (want.empty()) continue;
    r.Report(Rule("ConsistentInstructionCasing"), k.line,
             absl::StrCat("Command '", k.keyword,
                          "' should match the case of the command majority (", AsAbsl(want), ")"),
             k.comments);
  }
}

void SecretKey(CheckRecorder& r, std::string_view instruction, std::string_view key, int line,
               const std::vector<std::string>* comments) {
  if (!HasToken(key, {"apikey", "auth", "credential", "credentials", "key", "password", "pword",
                      "passwd", "secret", "token"})) {
    return;
  }
  if (HasToken(key, {"public", "file", "version"})) return;
  r.Report(Rule("SecretsUsedInArgOrEnv"), line,
           absl::StrCat("Do not use ARG or ENV instructions for sensitive data (",
                        AsAbsl(instruction), " \"", AsAbsl(key), "\")"),
           comments);
}

void ExposePort(CheckRecorder& r, std::string_view port, int line,
                const std::vector<std::string>* comments) {
  // BuildKit's "[ip:][host-port:]container-port[/proto]" split.
  std::vector<absl::string_view> parts = absl::StrSplit(AsAbsl(port), ':');
  const size_t n = parts.size();
  // The IP is everything before the host port: non-empty unless it is one empty part.
  const bool ip = n > 3 || (n == 3 && !parts[0].empty());
  const bool host_port = n >= 2 && !parts[n - 2].empty();
  std::string_view container(parts[n - 1].data(), parts[n - 1].size());
  size_t slash = container.find('/');
  std::string_view proto = slash == std::string_view::npos ? "" : container.substr(slash + 1);
  if (!IsLower(proto)) {
    r.Report(Rule("ExposeProtoCasing"), line,
             absl::StrCat("Defined protocol '", AsAbsl(port),
                          "' in EXPOSE instruction should be lowercase"),
             comments);
  }
  if (ip || host_port) {
    r.Report(Rule("ExposeInvalidFormat"), line,
             absl::StrCat("EXPOSE instruction should not define an IP address or host-port "
                          "mapping, found '",
                          AsAbsl(port), "'"),
             comments);
  }
}

}  // namespace checks
}  // namespace kiln::engine
