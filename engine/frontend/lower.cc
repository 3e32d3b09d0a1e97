#include "engine/frontend/lower.h"

#include <algorithm>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "base/path.h"
#include "base/status.h"
#include "engine/frontend/lower_internal.h"

namespace kiln::engine {
namespace internal {
namespace {

const char* const kProxyArgs[] = {"HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy",
                                  "FTP_PROXY",  "ftp_proxy",  "NO_PROXY",    "no_proxy",
                                  "ALL_PROXY",  "all_proxy"};

// "linux/arm64/v8" -> os, arch, variant.
std::vector<std::string> SplitPlatform(const std::string& p) {
  std::vector<std::string> parts = absl::StrSplit(p, '/');
  parts.resize(3);
  return parts;
}

}  // namespace

std::optional<std::string_view> EnvFind(const std::vector<std::string>& env,
                                        std::string_view key) {
  for (auto it = env.rbegin(); it != env.rend(); ++it) {
    std::string_view kv = *it;
    if (kv.size() > key.size() && kv.starts_with(key) && kv[key.size()] == '=') {
      return kv.substr(key.size() + 1);
    }
    if (kv == key) return std::string_view();
  }
  return std::nullopt;
}

bool IsProxyArg(std::string_view k) {
  for (const char* p : kProxyArgs) {
    if (k == p) return true;
  }
  return false;
}

bool IsPredefinedArg(std::string_view k) {
  static const char* const kPlatform[] = {"TARGETPLATFORM", "TARGETOS",     "TARGETARCH",
                                          "TARGETVARIANT",  "BUILDPLATFORM", "BUILDOS",
                                          "BUILDARCH",      "BUILDVARIANT"};
  for (const char* p : kPlatform) {
    if (k == p) return true;
  }
  return IsProxyArg(k);
}

std::string CleanPath(std::string_view p) { return base::CleanPath(p); }

std::string JoinPath(std::string_view base, std::string_view rel, bool keep_trailing_slash) {
  std::string c;
  if (!rel.empty() && rel[0] == '/') {
    c = CleanPath(rel);
  } else {
    std::string joined;
    joined.reserve(base.size() + rel.size() + 2);
    joined.append(base.empty() ? std::string_view("/") : base);
    joined.push_back('/');
    joined.append(rel);
    c = CleanPath(joined);
  }
  bool slash = !rel.empty() && (rel.back() == '/' || rel == "." || rel.ends_with("/."));
  if (keep_trailing_slash && slash && c != "/") c += '/';
  return c;
}

Lowerer::Lowerer(const Dockerfile& df, const LowerOptions& opt)
    : df_(df),
      opt_(opt),
      lexer_(ShellLexerOptions{.escape = df.directives.escape}),
      checks_(opt.filename) {
  states_.resize(df.stages.size());
  size_t commands = 0;
  stage_index_.reserve(df.stages.size());
  for (size_t i = 0; i < df.stages.size(); ++i) {
    const std::string& n = df.stages[i].from.stage_name;
    states_[i].name = n.empty() ? absl::StrCat("stage-", i) : n;
    states_[i].steps = static_cast<int>(df.stages[i].commands.size()) + 1;
    commands += df.stages[i].commands.size();
    if (!n.empty()) stage_index_[n] = static_cast<int>(i);  // a repeated name: the last wins
  }
  // Most instructions add one vertex, COPY/ADD a context source too: reserving that many
  // means adding vertices never moves the ones already there.
  graph_.Reserve(2 * (commands + df.stages.size()) + 8);
  for (const auto& [k, v] : opt.build_args) build_arg_used_[k] = false;
}

absl::Status Lowerer::Error(int line, absl::string_view msg) const {
  return absl::InvalidArgumentError(absl::StrCat(opt_.filename, ":", line, ": ", msg));
}

absl::Status Lowerer::Annotated(int line, const absl::Status& s) const {
  if (s.code() == absl::StatusCode::kInvalidArgument) return Error(line, s.message());
  return base::Annotate(s, absl::StrCat(opt_.filename, ":", line));
}

std::optional<std::string> Lowerer::BuildArgValue(const std::string& key) {
  auto it = opt_.build_args.find(key);
  if (it == opt_.build_args.end()) return std::nullopt;
  build_arg_used_[key] = true;
  return it->second;
}

absl::Status Lowerer::ComputeMetaArgs() {
  std::vector<std::string> t = SplitPlatform(opt_.target_platform);
  std::vector<std::string> b = SplitPlatform(opt_.build_platform);
  meta_ = {{"TARGETPLATFORM", opt_.target_platform}, {"TARGETOS", t[0]},
           {"TARGETARCH", t[1]}, {"TARGETVARIANT", t[2]},
           {"BUILDPLATFORM", opt_.build_platform}, {"BUILDOS", b[0]},
           {"BUILDARCH", b[1]}, {"BUILDVARIANT", b[2]}};
  platform_args_ = meta_;
  for (size_t i = 0; i < df_.meta_args.size(); ++i) {
    for (const ArgSpec& a : df_.meta_args[i].args) {
      std::optional<std::string> v = BuildArgValue(a.key);
      if (!v && a.default_value) {
        absl::StatusOr<std::string> e = lexer_.ProcessWord(*a.default_value, MetaVars(nullptr));
        if (!e.ok()) return Error(df_.meta_arg_lines[i], e.status().message());
        v = *e;
      }
      std::erase_if(meta_, [&](const auto& kv) { return kv.first == a.key; });
      if (v) meta_.emplace_back(a.key, *v);
    }
  }
  return absl::OkStatus();
}

EnvGetter Lowerer::Vars(int stage) {
  StageState* st = &state(stage);
  return [st](std::string_view name) -> std::optional<std::string> {
    if (std::optional<std::string_view> v = EnvFind(st->config.env, name)) {
      return std::string(*v);
    }
    for (auto it = st->args.rbegin(); it != st->args.rend(); ++it) {
      if (it->first == name) return it->second;
    }
    return std::nullopt;
  };
}

EnvGetter Lowerer::MetaVars(
    const std::vector<std::pair<std::string, std::string>>* local) const {
  const auto* meta = &meta_;
  return [meta, local](std::string_view name) -> std::optional<std::string> {
    if (local != nullptr) {
      for (auto it = local->rbegin(); it != local->rend(); ++it) {
        if (it->first == name) return it->second;
      }
    }
    for (auto it = meta->rbegin(); it != meta->rend(); ++it) {
      if (it->first == name) return it->second;
    }
    return std::nullopt;
  };
}

absl::StatusOr<std::string> Lowerer::Expand(int stage, int line, std::string_view word) {
  VarUse use;
  absl::StatusOr<std::string> r = lexer_.ProcessWord(word, Recording(Vars(stage), &use));
  ReportUndefined(stage, line, use);
  if (!r.ok()) {
    return Error(line, absl::StrCat("failed to expand '", base::AsAbsl(word),
                                    "': ", r.status().message()));
  }
  return r;
}

absl::StatusOr<FromRef> Lowerer::ResolveFromName(int stage, int line, std::string_view name,
                                                 bool base) const {
  std::string lower = absl::AsciiStrToLower(base::AsAbsl(name));
  FromRef ref;
  if (base) {
    for (int i = stage - 1; i >= 0; --i) {
      if (df_.stages[static_cast<size_t>(i)].from.stage_name == lower) {
        ref.stage = i;
        return ref;
      }
    }
  }
  if (auto it = stage_index_.find(lower); it != stage_index_.end()) {
    const int i = it->second;
    if (base) {
      return Error(line, absl::StrCat("stage '", lower, "' is referenced from stage ",
                                      states_[static_cast<size_t>(stage)].name,
                                      " before it is defined (line ",
                                      df_.stages[static_cast<size_t>(i)].line,
                                      "): expected a stage defined earlier"));
    }
    if (i == stage) {
      return Error(line, absl::StrCat("stage '", lower,
                                      "' refers to itself: expected another stage or an image"));
    }
    ref.stage = i;
    return ref;
  }
  bool digits = !name.empty() && name.size() < 9 &&
                std::all_of(name.begin(), name.end(), [](char c) { return c >= '0' && c <= '9'; });
  if (digits) {
    int idx = std::stoi(std::string(name));
    if (idx >= stage) {
      return Error(line, absl::StrCat("stage index ", idx, " is not before the current stage (",
                                      stage, "): expected an earlier stage's index"));
    }
    ref.stage = idx;
    return ref;
  }
  ref.image = std::string(name);
  return ref;
}

absl::StatusOr<int> Lowerer::TargetIndex() const {
  int last = static_cast<int>(df_.stages.size()) - 1;
  if (opt_.target.empty()) return last;
  if (auto it = stage_index_.find(absl::AsciiStrToLower(opt_.target));
      it != stage_index_.end()) {
    return it->second;
  }
  std::string names;
  for (const Stage& s : df_.stages) {
    if (s.from.stage_name.empty()) continue;
    absl::StrAppend(&names, names.empty() ? "" : ", ", s.from.stage_name);
  }
  return absl::InvalidArgumentError(absl::StrCat(
      opt_.filename, ": target stage '", opt_.target, "' could not be found: expected one of ",
      names.empty() ? "(no named stages)" : names));
}

}  // namespace internal

}  // namespace kiln::engine
