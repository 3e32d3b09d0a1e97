// The build checks that need lowering state (checks.h): FROM arguments and platforms for
// every stage, and, for the stages the target reaches, variables, WORKDIR, CMD/ENTRYPOINT
// form, repeated instructions, legacy ENV/LABEL, secrets in ARG/ENV, EXPOSE and COPY of
// ignored files. Each follows BuildKit's dockerfile2llb (convert.go, validations.go).
#include <algorithm>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "base/status.h"
#include "engine/frontend/dockerignore.h"
#include "engine/frontend/lower_internal.h"
#include "engine/oci/reference.h"

namespace kiln::engine::internal {
namespace {

// BuildKit's nonEnvArgs: read by the frontend itself, never reported.
bool IsNonEnvArg(std::string_view k) {
  return k == "BUILDKIT_SBOM_SCAN_CONTEXT" || k == "BUILDKIT_SBOM_SCAN_STAGE";
}

void AddOnce(std::vector<std::string>& v, std::string_view s) {
  if (std::find(v.begin(), v.end(), s) == v.end()) v.emplace_back(s);
}

}  // namespace

EnvGetter Lowerer::Recording(EnvGetter inner, VarUse* use) {
  return [inner = std::move(inner), use](std::string_view name) -> std::optional<std::string> {
    std::optional<std::string> v = inner(name);
    AddOnce(v ? use->matched : use->unmatched, name);
    return v;
  };
}

const std::vector<std::string>* Lowerer::CurrentComments() const {
  return current_ == nullptr ? nullptr : &current_->comments;
}

void Lowerer::ReportUndefined(int stage, int line, const VarUse& use) {
  if (use.unmatched.empty()) return;  // the common case: no work on every expansion
  const StageState& st = state(stage);
  std::vector<std::string> options;  // the keys of the stage's environment
  for (const std::string& kv : st.config.env) options.push_back(kv.substr(0, kv.find('=')));
  for (const auto& [k, v] : st.args) AddOnce(options, k);
  for (const std::string& name : use.unmatched) {
    if (std::find(st.declared_args.begin(), st.declared_args.end(), name) !=
            st.declared_args.end() ||
        IsNonEnvArg(name)) {
      continue;
    }
    std::string msg = absl::StrCat("Usage of undefined variable '$", name, "'");
    if (std::string s = SuggestName(name, options); !s.empty()) {
      absl::StrAppend(&msg, " (did you mean $", s, "?)");
    }
    checks_.Report(*FindCheckRule("UndefinedVar"), line, std::move(msg), CurrentComments());
  }
}

absl::Status Lowerer::CheckFromLines() {
  // The keys a FROM may use: every global ARG (with or without a value) and the predefined
  // platform args.
  std::vector<std::string> keys;
  for (const ArgInstr& a : df_.meta_args) {
    for (const ArgSpec& s : a.args) AddOnce(keys, s.key);
  }
  for (const auto& [k, v] : meta_) AddOnce(keys, k);
  // Global ARGs from their defaults only (no --build-arg): InvalidDefaultArgInFrom.
  std::vector<std::pair<std::string, std::string>> defaults = platform_args_;
  const EnvGetter defaults_get = [d = &defaults](std::string_view n) -> std::optional<std::string> {
    for (auto it = d->rbegin(); it != d->rend(); ++it) {
      if (it->first == n) return it->second;
    }
    return std::nullopt;
  };
  for (const ArgInstr& a : df_.meta_args) {
    for (const ArgSpec& s : a.args) {
      std::erase_if(defaults, [&](const auto& kv) { return kv.first == s.key; });
      if (!s.default_value) continue;
      absl::StatusOr<std::string> v = lexer_.ProcessWord(*s.default_value, defaults_get);
      if (!v.ok()) return absl::OkStatus();  // lowering reports it
      defaults.emplace_back(s.key, *v);
    }
  }
  std::string target_platform;
  for (const auto& [k, v] : meta_) {
    if (k == "TARGETPLATFORM") target_platform = v;
  }
  for (const Stage& st : df_.stages) {
    const std::vector<std::string>* comments = &st.comments;
    auto undeclared = [&](const VarUse& use) {
      for (const std::string& name : use.unmatched) {
        if (std::find(keys.begin(), keys.end(), name) != keys.end()) continue;
        std::string msg = absl::StrCat("FROM argument '", name, "' is not declared");
        if (std::string s = SuggestName(name, keys); !s.empty()) {
          absl::StrAppend(&msg, " (did you mean ", s, "?)");
        }
        checks_.Report(*FindCheckRule("UndefinedArgInFrom"), st.line, std::move(msg), comments);
      }
    };
    VarUse base;
    (void)lexer_.ProcessWord(st.from.image, Recording(MetaVars(nullptr), &base));
    undeclared(base);
    if (!st.from.platform.empty()) {
      VarUse plat;
      absl::StatusOr<std::string> p =
          lexer_.ProcessWord(st.from.platform, Recording(MetaVars(nullptr), &plat));
      undeclared(plat);
      if (p.ok() && plat.matched.size() == 1 && plat.unmatched.empty() &&
          plat.matched[0] == "TARGETPLATFORM" && *p == target_platform) {
        checks_.Report(*FindCheckRule("RedundantTargetPlatform"), st.line,
                       absl::StrCat("Setting platform to predefined ", st.from.platform,
                                    " in FROM is redundant as this is the default behavior"),
                       comments);
      }
      if (p.ok() && plat.matched.empty() && plat.unmatched.empty()) {
        std::vector<std::string> parts = absl::StrSplit(*p, '/');
        const bool parsed =
            parts.size() >= 2 && parts.size() <= 3 && !parts[0].empty() && !parts[1].empty();
        const std::string& name = st.from.stage_name;
        if (parsed && name.find(absl::AsciiStrToLower(parts[0])) == std::string::npos &&
            name.find(absl::AsciiStrToLower(parts[1])) == std::string::npos) {
          checks_.Report(
              *FindCheckRule("FromPlatformFlagConstDisallowed"), st.line,
              absl::StrCat("FROM --platform flag should not use constant value \"", *p, "\""),
              comments);
        }
      }
    }
    absl::StatusOr<std::string> name = lexer_.ProcessWord(st.from.image, defaults_get);
    if (name.ok() && (name->empty() || !oci::ParseReference(*name).ok())) {
      checks_.Report(*FindCheckRule("InvalidDefaultArgInFrom"), st.line,
                     absl::StrCat("Default value for ARG ", st.from.image,
                                  " results in empty or invalid base image name"),
                     comments);
    }
  }
  return absl::OkStatus();
}

void Lowerer::CheckWorkdir(int stage, int line, std::string_view path) {
  StageState& st = state(stage);
  if (!st.workdir_set && !path.starts_with("/")) {
    checks_.Report(*FindCheckRule("WorkdirRelativePath"), line,
                   absl::StrCat("Relative workdir \"", base::AsAbsl(path),
                                "\" can have unexpected results if the base image changes"),
                   CurrentComments());
  }
  st.workdir_set = true;
}

void Lowerer::CheckConfigCommand(int stage, const Command& cmd) {
  StageState& st = state(stage);
  const std::vector<std::string>* comments = &cmd.comments;
  auto used_once = [&](int* last) {
    if (*last > 0) {
      checks_.Report(*FindCheckRule("MultipleInstructionsDisallowed"), *last,
                     absl::StrCat("Multiple ", cmd.keyword,
                                  " instructions should not be used in the same stage because "
                                  "only the last one will be used"),
                     comments);
    }
    *last = cmd.line;
  };
  auto json_args = [&](bool prepend_shell) {
    if (prepend_shell && st.config.shell.empty()) {
      checks_.Report(*FindCheckRule("JSONArgsRecommended"), cmd.line,
                     absl::StrCat("JSON arguments recommended for ", cmd.keyword,
                                  " to prevent unintended behavior related to OS signals"),
                     comments);
    }
  };
  auto legacy = [&](bool is_legacy) {
    if (is_legacy) {
      checks_.Report(
          *FindCheckRule("LegacyKeyValueFormat"), cmd.line,
          absl::StrCat("\"", cmd.keyword, " key=value\" should be used instead of legacy \"",
                       cmd.keyword, " key value\" format"),
          comments);
    }
  };
  if (const auto* c = std::get_if<CmdInstr>(&cmd.instr)) {
    used_once(&st.cmd_line);
    json_args(c->prepend_shell);
  } else if (const auto* e = std::get_if<EntrypointInstr>(&cmd.instr)) {
    used_once(&st.entrypoint_line);
    json_args(e->prepend_shell);
  } else if (std::holds_alternative<HealthcheckInstr>(cmd.instr)) {
    used_once(&st.healthcheck_line);
  } else if (const auto* env = std::get_if<EnvInstr>(&cmd.instr)) {
    for (const KeyValue& kv : env->vars) {
      legacy(env->legacy);
      checks::SecretKey(checks_, "ENV", kv.key, cmd.line, comments);
    }
  } else if (const auto* l = std::get_if<LabelInstr>(&cmd.instr)) {
    for (size_t i = 0; i < l->labels.size(); ++i) legacy(l->legacy);
  }
}

void Lowerer::CheckCopySource(const Command& cmd, bool is_add, std::string_view src) {
  const std::vector<std::string>& patterns = opt_.context_excludes;
  if (patterns.empty()) return;
  if (!copy_ignore_built_) {  // once per build, not per COPY source
    copy_ignore_built_ = true;
    absl::StatusOr<DockerignoreMatcher> built = DockerignoreMatcher::Create(patterns);
    if (built.ok()) copy_ignore_ = *std::move(built);
  }
  // BuildKit skips this check when the ignore file has exceptions: they are too hard to
  // judge statically.
  const std::optional<DockerignoreMatcher>& m = copy_ignore_;
  if (!m || m->has_exceptions()) return;
  const std::string clean = CleanPath(src);
  if (clean == "." || clean == "/") {
    // The context root is reported only when a pattern excludes every entry of it.
    bool all = false;
    for (const std::string& p : patterns) all = all || p == "*" || p == "**" || p == "**/*";
    if (!all) return;
  } else if (!m->Excluded(clean.starts_with("/") ? clean.substr(1) : clean)) {
    return;
  }
  checks_.Report(*FindCheckRule("CopyIgnoredFile"), cmd.line,
                 absl::StrCat("Attempting to ", is_add ? "Add" : "Copy", " file \"", clean,
                              "\" that is excluded by .dockerignore"),
                 &cmd.comments);
}

absl::StatusOr<CheckConfig> Lowerer::BuildCheckConfig() {
  if (std::optional<std::string> v = BuildArgValue("BUILDKIT_DOCKERFILE_CHECK")) {
    absl::StatusOr<CheckConfig> c = ParseCheckConfig(*v);
    if (!c.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("build arg BUILDKIT_DOCKERFILE_CHECK: ", c.status().message()));
    }
    return c;
  }
  absl::StatusOr<CheckConfig> c = ParseCheckConfig(df_.directives.check);
  if (!c.ok()) return Error(1, absl::StrCat("check directive: ", c.status().message()));
  return c;
}

}  // namespace kiln::engine::internal
