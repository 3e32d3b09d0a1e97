#include "engine/frontend/lower.h"

#include <algorithm>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
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

std::string CleanPath(std::string_view p) {
  if (p.empty()) return ".";
  bool rooted = p[0] == '/';
  std::vector<absl::string_view> out;
  for (absl::string_view part : absl::StrSplit(base::AsAbsl(p), '/')) {
    if (part.empty() || part == ".") continue;
    if (part == "..") {
      if (!out.empty() && out.back() != "..") {
        out.pop_back();
      } else if (!rooted) {
        out.push_back(part);
      }
      continue;
    }
    out.push_back(part);
  }
  std::string r = rooted ? "/" : "";
  for (size_t i = 0; i < out.size(); ++i) {
    if (i) r += '/';
    r.append(out[i].data(), out[i].size());
  }
  if (r.empty()) r.push_back('.');
  return r;
}

std::string JoinPath(std::string_view base, std::string_view rel, bool keep_trailing_slash) {
  std::string joined = !rel.empty() && rel[0] == '/'
                           ? std::string(rel)
                           : std::string(base.empty() ? "/" : base) + "/" + std::string(rel);
  std::string c = CleanPath(joined);
  bool slash = !rel.empty() && (rel.back() == '/' || rel == "." || rel.ends_with("/."));
  if (keep_trailing_slash && slash && c != "/") c += '/';
  return c;
}

Lowerer::Lowerer(const Dockerfile& df, const LowerOptions& opt)
    : df_(df), opt_(opt), lexer_(ShellLexerOptions{.escape = df.directives.escape}) {
  states_.resize(df.stages.size());
  for (size_t i = 0; i < df.stages.size(); ++i) {
    const std::string& n = df.stages[i].from.stage_name;
    states_[i].name = n.empty() ? absl::StrCat("stage-", i) : n;
    states_[i].steps = static_cast<int>(df.stages[i].commands.size()) + 1;
  }
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
  for (size_t i = 0; i < df_.meta_args.size(); ++i) {
    for (const ArgSpec& a : df_.meta_args[i].args) {
      std::optional<std::string> v = BuildArgValue(a.key);
      if (!v && a.default_value) {
        std::vector<std::string> env;
        for (const auto& [k, val] : meta_) env.push_back(k + "=" + val);
        absl::StatusOr<std::string> e = lexer_.ProcessWord(*a.default_value, EnvFromList(&env));
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
    std::optional<std::string> v = oci::EnvLookup(st->config.env, std::string(name));
    if (v) return v;
    for (auto it = st->args.rbegin(); it != st->args.rend(); ++it) {
      if (it->first == name) return it->second;
    }
    return std::nullopt;
  };
}

absl::StatusOr<std::string> Lowerer::Expand(int stage, int line, std::string_view word) {
  absl::StatusOr<std::string> r = lexer_.ProcessWord(word, Vars(stage));
  if (!r.ok()) {
    return Error(line, absl::StrCat("failed to expand '", base::AsAbsl(word),
                                    "': ", r.status().message()));
  }
  return r;
}

absl::StatusOr<FromRef> Lowerer::ResolveFromName(int stage, int line,
                                                 std::string_view name) const {
  std::string lower = absl::AsciiStrToLower(base::AsAbsl(name));
  FromRef ref;
  for (size_t i = 0; i < df_.stages.size(); ++i) {
    if (df_.stages[i].from.stage_name.empty() || df_.stages[i].from.stage_name != lower) continue;
    if (static_cast<int>(i) >= stage) {
      return Error(line, absl::StrCat("stage '", lower, "' is referenced from stage ",
                                      states_[static_cast<size_t>(stage)].name,
                                      " before it is defined (line ", df_.stages[i].line,
                                      "): expected a stage defined earlier"));
    }
    ref.stage = static_cast<int>(i);
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
  std::string t = absl::AsciiStrToLower(opt_.target);
  for (int i = 0; i <= last; ++i) {
    if (df_.stages[static_cast<size_t>(i)].from.stage_name == t) return i;
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
