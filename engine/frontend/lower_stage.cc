// Stage-level lowering: reachability, FROM, ONBUILD triggers, dispatch of instructions.
#include <algorithm>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "base/status.h"
#include "engine/frontend/lower_internal.h"

namespace kiln::engine {
namespace internal {
namespace {

// The "from=" value of a --mount spec, if any (best effort; errors are reported later).
std::string MountFrom(std::string_view spec) {
  for (absl::string_view kv : absl::StrSplit(base::AsAbsl(spec), ',')) {
    if (absl::StartsWith(kv, "from=")) return std::string(kv.substr(5));
  }
  return {};
}

}  // namespace

std::vector<int> Lowerer::StageDeps(int stage) {
  const Stage& st = df_.stages[static_cast<size_t>(stage)];
  std::vector<std::pair<std::string, std::string>> args;  // the stage's ARGs seen so far
  const EnvGetter vars = MetaVars(&args);
  std::vector<std::string> names;
  size_t bases = 0;  // names[0] is the FROM when it expanded
  if (absl::StatusOr<std::string> base = lexer_.ProcessWord(st.from.image, vars); base.ok()) {
    names.push_back(*std::move(base));
    bases = 1;
  }
  for (const Command& c : st.commands) {
    if (const auto* a = std::get_if<ArgInstr>(&c.instr)) {
      for (const ArgSpec& s : a->args) {
        auto it = opt_.build_args.find(s.key);
        if (it != opt_.build_args.end()) {
          args.emplace_back(s.key, it->second);
        } else if (s.default_value) {
          auto v = lexer_.ProcessWord(*s.default_value, vars);
          if (v.ok()) args.emplace_back(s.key, *std::move(v));
        }
      }
    } else if (const auto* cp = std::get_if<CopyInstr>(&c.instr); cp && !cp->from.empty()) {
      auto v = lexer_.ProcessWord(cp->from, vars);
      if (v.ok()) names.push_back(*std::move(v));
    } else if (const auto* r = std::get_if<RunInstr>(&c.instr)) {
      for (const std::string& m : r->mounts) {
        std::string from = MountFrom(m);
        if (from.empty()) continue;
        auto v = lexer_.ProcessWord(from, vars);
        if (v.ok() && !v->empty()) names.push_back(*std::move(v));
      }
    }
  }
  std::vector<int> deps;
  for (size_t i = 0; i < names.size(); ++i) {
    absl::StatusOr<FromRef> ref = ResolveFromName(stage, st.line, names[i], i < bases);
    if (ref.ok() && ref->stage >= 0) deps.push_back(ref->stage);
  }
  return deps;
}

absl::StatusOr<LoweredBuild> Lowerer::Run() {
  KILN_ASSIGN_OR_RETURN(CheckConfig check_config, BuildCheckConfig());
  KILN_RETURN_IF_ERROR(ComputeMetaArgs());
  KILN_RETURN_IF_ERROR(CheckFromLines());
  KILN_ASSIGN_OR_RETURN(int target, TargetIndex());
  std::vector<bool> reach(df_.stages.size(), false);
  std::vector<int> pending = {target};
  while (!pending.empty()) {
    int s = pending.back();
    pending.pop_back();
    if (reach[static_cast<size_t>(s)]) continue;
    reach[static_cast<size_t>(s)] = true;
    for (int d : StageDeps(s)) pending.push_back(d);
  }
  for (size_t s = 0; s < reach.size(); ++s) {
    if (reach[s]) KILN_RETURN_IF_ERROR(LowerStage(static_cast<int>(s)));
  }
  StageState& t = state(target);
  LoweredBuild out;
  std::vector<graph::VertexId> roots = {t.vertex};
  out.graph = graph_.TakePruned(&roots);
  out.final_vertex = roots[0];
  out.target_stage = t.name;
  out.platform = t.platform;
  out.config = std::move(t.config);
  out.author = std::move(t.author);
  out.history = std::move(t.history);
  std::vector<CheckWarning> found = df_.checks;
  for (CheckWarning& w : checks_.Take()) found.push_back(std::move(w));
  out.checks = FilterChecks(std::move(found), check_config);
  out.checks_fail = check_config.error && !out.checks.empty();
  for (const auto& [k, used] : build_arg_used_) {
    if (!used && !IsPredefinedArg(k)) {
      out.warnings.push_back(absl::StrCat("build arg ", k, " was not consumed by any stage"));
    }
  }
  return out;
}

absl::Status Lowerer::LowerStage(int stage) {
  StageState& st = state(stage);
  if (st.lowered) return absl::OkStatus();
  if (st.lowering) {
    return Error(df_.stages[static_cast<size_t>(stage)].line,
                 absl::StrCat("circular dependency on stage '", st.name, "'"));
  }
  st.lowering = true;
  KILN_RETURN_IF_ERROR(StartStage(stage));
  KILN_RETURN_IF_ERROR(RunTriggers(stage));
  for (const Command& c : df_.stages[static_cast<size_t>(stage)].commands) {
    KILN_RETURN_IF_ERROR(LowerCommand(stage, c));
  }
  state(stage).lowered = true;
  return absl::OkStatus();
}

absl::Status Lowerer::StartStage(int stage) {
  const Stage& s = df_.stages[static_cast<size_t>(stage)];
  const EnvGetter vars = MetaVars(nullptr);
  absl::StatusOr<std::string> image = lexer_.ProcessWord(s.from.image, vars);
  if (!image.ok()) return Error(s.line, absl::StrCat("FROM: ", image.status().message()));
  if (image->empty()) return Error(s.line, "FROM names an empty image: expected an image reference");
  std::string platform = opt_.target_platform;
  if (!s.from.platform.empty()) {
    absl::StatusOr<std::string> p = lexer_.ProcessWord(s.from.platform, vars);
    if (!p.ok()) return Error(s.line, absl::StrCat("FROM --platform: ", p.status().message()));
    platform = *p;
  }
  KILN_ASSIGN_OR_RETURN(FromRef ref, ResolveFromName(stage, s.line, *image, /*base=*/true));
  if (ref.stage < 0 && absl::AsciiStrToLower(*image) == s.from.stage_name) {
    return Error(s.line, absl::StrCat("stage '", s.from.stage_name,
                                      "' uses itself as its base: expected an earlier stage or an image"));
  }
  StageState& st = state(stage);
  st.step = 1;
  Command from_cmd;
  from_cmd.original = s.original;
  from_cmd.line = s.line;
  from_cmd.keyword = "FROM";
  if (ref.stage >= 0) {
    KILN_RETURN_IF_ERROR(LowerStage(ref.stage));
    const StageState& base = state(ref.stage);
    StageState& cur = state(stage);
    cur.vertex = base.vertex;
    cur.config = base.config;
    cur.author = base.author;
    cur.history = base.history;
    cur.platform = base.platform;
    cur.workdir_set = base.workdir_set;
    cur.declared_args = base.declared_args;
    return absl::OkStatus();
  }
  st.platform = platform;
  if (*image == "scratch") {
    graph::SourceOp src;
    src.kind = graph::SourceOp::Kind::kScratch;
    src.platform = platform;
    KILN_ASSIGN_OR_RETURN(st.vertex, Add(src, {}, stage, &from_cmd));
    st.config = oci::ImageConfig{};
    st.config.env = {kDefaultPath};
    return absl::OkStatus();
  }
  oci::ImageConfig config;
  KILN_ASSIGN_OR_RETURN(graph::VertexId v, ImageVertex(s.line, *image, platform, &config, stage, &from_cmd));
  StageState& cur = state(stage);
  cur.vertex = v;
  cur.config = std::move(config);
  if (!EnvFind(cur.config.env, "PATH")) cur.config.env.push_back(kDefaultPath);
  return absl::OkStatus();
}

absl::Status Lowerer::RunTriggers(int stage) {
  std::vector<std::string> triggers = std::move(state(stage).config.on_build);
  state(stage).config.on_build.clear();
  const int line = df_.stages[static_cast<size_t>(stage)].line;
  for (const std::string& t : triggers) {
    absl::StatusOr<Ast> ast = ParseDockerfile(t, opt_.filename);
    if (!ast.ok()) return Error(line, absl::StrCat("ONBUILD trigger '", t, "': ", ast.status().message()));
    for (AstNode& n : ast->nodes) {
      n.start_line = line;
      absl::StatusOr<Command> c = ParseCommand(std::move(n), opt_.filename);
      if (!c.ok()) return c.status();
      if (c->keyword == "FROM" || c->keyword == "ONBUILD") {
        return Error(line, absl::StrCat("ONBUILD trigger '", t, "' is not allowed: expected another instruction"));
      }
      c->original = "ONBUILD " + c->original;
      ++state(stage).steps;
      KILN_RETURN_IF_ERROR(LowerCommand(stage, *c));
    }
  }
  return absl::OkStatus();
}

absl::Status Lowerer::LowerCommand(int stage, const Command& cmd) {
  ++state(stage).step;
  // Lowering may lower another stage first (COPY --from): keep the current instruction.
  const Command* outer = current_;
  current_ = &cmd;
  absl::Status s;
  if (const auto* r = std::get_if<RunInstr>(&cmd.instr)) {
    s = LowerRun(stage, cmd, *r);
  } else if (const auto* c = std::get_if<CopyInstr>(&cmd.instr)) {
    s = LowerCopy(stage, cmd, *c);
  } else if (const auto* w = std::get_if<WorkdirInstr>(&cmd.instr)) {
    s = LowerWorkdir(stage, cmd, *w);
  } else if (const auto* a = std::get_if<ArgInstr>(&cmd.instr)) {
    s = LowerArg(stage, cmd, *a);
  } else {
    CheckConfigCommand(stage, cmd);
    s = LowerConfig(stage, cmd);
  }
  current_ = outer;
  return s;
}

absl::StatusOr<graph::VertexId> Lowerer::Add(graph::Op op, std::vector<graph::VertexId> inputs,
                                             int stage, const Command* cmd,
                                             std::string description) {
  graph::VertexMeta meta;
  const StageState& st = state(stage);
  meta.stage = st.name;
  meta.description = std::move(description);
  if (cmd != nullptr) {
    meta.instruction = cmd->original;
    meta.line = cmd->line;
    meta.step = absl::StrCat("[", st.name, " ", st.step, "/", st.steps, "]");
  }
  return graph_.Add(std::move(op), std::move(inputs), std::move(meta));
}

absl::StatusOr<graph::VertexId> Lowerer::ImageVertex(int line, std::string_view ref,
                                                     std::string_view platform,
                                                     oci::ImageConfig* config, int stage,
                                                     const Command* cmd) {
  if (opt_.resolver == nullptr) {
    return absl::FailedPreconditionError("lower Dockerfile: no image resolver configured");
  }
  auto key = std::make_pair(std::string(ref), std::string(platform));
  auto cached = resolved_.find(key);
  if (cached == resolved_.end()) {
    absl::StatusOr<ResolvedImage> r = opt_.resolver->Resolve(ref, platform);
    if (!r.ok()) return Annotated(line, r.status());
    cached = resolved_.emplace(std::move(key), *std::move(r)).first;
  }
  const ResolvedImage* img = &cached->second;
  graph::SourceOp src;
  src.kind = graph::SourceOp::Kind::kImage;
  src.ref = img->ref;
  src.manifest_digest = img->manifest_digest;
  src.platform = std::string(platform);
  *config = img->config;
  if (stage >= 0 && cmd != nullptr) return Add(std::move(src), {}, stage, cmd);
  graph::VertexMeta meta;
  meta.instruction = absl::StrCat("FROM ", img->ref);
  meta.description = absl::StrCat("resolve image ", img->ref);
  meta.line = line;
  return graph_.Add(std::move(src), {}, std::move(meta));
}

absl::StatusOr<graph::VertexId> Lowerer::ContextVertex(std::vector<std::string> includes,
                                                       const std::vector<std::string>& excludes) {
  graph::SourceOp src;
  src.kind = graph::SourceOp::Kind::kLocal;
  src.ref = "context";
  src.context_id = opt_.context_id;
  if (std::find(includes.begin(), includes.end(), ".") != includes.end()) includes.clear();
  src.include_patterns = std::move(includes);
  src.exclude_patterns = opt_.context_excludes;
  src.exclude_patterns.insert(src.exclude_patterns.end(), excludes.begin(), excludes.end());
  graph::VertexMeta meta;
  meta.description = "load build context";
  meta.instruction = "[context] " + (src.include_patterns.empty()
                                         ? std::string(".")
                                         : absl::StrJoin(src.include_patterns, " "));
  return graph_.Add(std::move(src), {}, std::move(meta));
}

absl::StatusOr<graph::VertexId> Lowerer::FromVertex(int stage, int line, std::string_view from,
                                                    std::string* platform) {
  KILN_ASSIGN_OR_RETURN(FromRef ref, ResolveFromName(stage, line, from));
  if (ref.stage >= 0) {
    KILN_RETURN_IF_ERROR(LowerStage(ref.stage));
    if (platform) *platform = state(ref.stage).platform;
    return state(ref.stage).vertex;
  }
  oci::ImageConfig unused;
  std::string p = state(stage).platform;
  if (platform) *platform = p;
  return ImageVertex(line, ref.image, p, &unused);
}

void Lowerer::Commit(int stage, std::string created_by, bool layer) {
  state(stage).history.push_back(HistoryEntry{std::move(created_by), !layer});
}

std::vector<std::string> Lowerer::ExecEnv(int stage) const {
  const StageState& st = states_[static_cast<size_t>(stage)];
  std::vector<std::string> env;
  env.reserve(st.config.env.size() + st.args.size() + 1);
  env = st.config.env;
  for (const auto& [k, v] : st.args) {
    if (!EnvFind(env, k)) env.push_back(absl::StrCat(k, "=", v));
  }
  if (!EnvFind(env, "PATH")) env.push_back(kDefaultPath);
  return env;
}

std::vector<std::string> Lowerer::ShellArgs(int stage, size_t extra) const {
  const StageState& st = states_[static_cast<size_t>(stage)];
  std::vector<std::string> sh;
  if (st.config.shell.empty()) {
    sh.reserve(2 + extra);
    sh.emplace_back("/bin/sh");
    sh.emplace_back("-c");
  } else {
    sh.reserve(st.config.shell.size() + extra);
    sh.insert(sh.end(), st.config.shell.begin(), st.config.shell.end());
  }
  return sh;
}

std::vector<std::string> Lowerer::CommandLine(int stage, bool prepend_shell,
                                              const std::vector<std::string>& cmd) const {
  if (!prepend_shell || cmd.empty()) return cmd;
  std::vector<std::string> v = ShellArgs(stage, cmd.size());
  v.insert(v.end(), cmd.begin(), cmd.end());
  return v;
}

}  // namespace internal

absl::StatusOr<LoweredBuild> LowerDockerfile(const Dockerfile& df, const LowerOptions& options) {
  return internal::Lowerer(df, options).Run();
}

absl::StatusOr<LoweredBuild> LowerDockerfileText(std::string_view content,
                                                 const LowerOptions& options) {
  KILN_ASSIGN_OR_RETURN(Dockerfile df, ParseDockerfileInstructions(content, options.filename));
  return LowerDockerfile(df, options);
}

absl::StatusOr<ResolvedImage> AnyImageResolver::Resolve(std::string_view ref,
                                                        std::string_view platform) {
  thread_local base::Sha256 h;  // Digest::Of would set up a new hasher per call
  ResolvedImage img;
  img.ref = std::string(ref);
  h.Update(absl::StrCat("kiln-any-image\n", base::AsAbsl(ref), "\n", base::AsAbsl(platform)));
  img.manifest_digest = h.Finish();
  h.Update(absl::StrCat("kiln-any-config\n", base::AsAbsl(ref)));
  img.config_digest = h.Finish();
  return img;
}

}  // namespace kiln::engine
