// Lowering of the instructions that produce filesystem ops: RUN, COPY, ADD, WORKDIR.
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "base/status.h"
#include "engine/frontend/lower_internal.h"

namespace kiln::engine::internal {
namespace {

using graph::ExecMount;

absl::StatusOr<uint32_t> ParseUint(std::string_view v, int base, std::string_view what) {
  uint64_t n = 0;
  bool ok = !v.empty() && v.size() <= 10;
  for (char c : v) {
    int d = c >= '0' && c <= '9' ? c - '0' : 99;
    ok = ok && d < base;
    n = n * static_cast<uint64_t>(base) + static_cast<uint64_t>(ok ? d : 0);
  }
  if (!ok || n > 0xFFFFFFFFu) {
    return absl::InvalidArgumentError(absl::StrCat("invalid ", base::AsAbsl(what), " '",
                                                   base::AsAbsl(v), "'"));
  }
  return static_cast<uint32_t>(n);
}

absl::StatusOr<bool> ParseBoolValue(std::string_view v) {
  std::string l = absl::AsciiStrToLower(base::AsAbsl(v));
  if (l.empty() || l == "true" || l == "1") return true;
  if (l == "false" || l == "0") return false;
  return absl::InvalidArgumentError(absl::StrCat("invalid boolean '", base::AsAbsl(v), "'"));
}

absl::StatusOr<uint64_t> ParseSize(std::string_view v) {
  uint64_t mult = 1;
  std::string l = absl::AsciiStrToLower(base::AsAbsl(v));
  if (!l.empty() && l.back() == 'b') l.pop_back();
  if (!l.empty()) {
    char u = l.back();
    if (u == 'k') mult = 1ull << 10;
    if (u == 'm') mult = 1ull << 20;
    if (u == 'g') mult = 1ull << 30;
    if (mult != 1) l.pop_back();
  }
  KILN_ASSIGN_OR_RETURN(uint32_t n, ParseUint(l, 10, "size"));
  return n * mult;
}

// One --mount=... value, already split into key=value fields and expanded.
absl::Status ParseMountField(std::string_view key, std::string_view val, bool has_val,
                             ExecMount& m, std::string* from) {
  if (key == "type") {
    if (val == "bind") m.type = ExecMount::Type::kBind;
    else if (val == "cache") m.type = ExecMount::Type::kCache;
    else if (val == "tmpfs") m.type = ExecMount::Type::kTmpfs;
    else if (val == "secret") m.type = ExecMount::Type::kSecret;
    else if (val == "ssh") m.type = ExecMount::Type::kSsh;
    else return absl::InvalidArgumentError(absl::StrCat("unsupported mount type '", base::AsAbsl(val), "': expected bind, cache, tmpfs, secret or ssh"));
  } else if (key == "target" || key == "dst" || key == "destination") {
    m.target = std::string(val);
  } else if (key == "source" || key == "src") {
    m.source = std::string(val);
  } else if (key == "from") {
    *from = std::string(val);
  } else if (key == "readonly" || key == "ro" || key == "readwrite" || key == "rw") {
    KILN_ASSIGN_OR_RETURN(bool b, ParseBoolValue(has_val ? val : ""));
    m.readonly = (key == "readonly" || key == "ro") ? b : !b;
  } else if (key == "id") {
    m.id = m.cache_id = std::string(val);
  } else if (key == "sharing") {
    if (val != "shared" && val != "private" && val != "locked") {
      return absl::InvalidArgumentError(absl::StrCat("unsupported sharing value '", base::AsAbsl(val), "': expected shared, private or locked"));
    }
    m.sharing = std::string(val);
  } else if (key == "mode") {
    KILN_ASSIGN_OR_RETURN(m.mode, ParseUint(val, 8, "octal mode"));
  } else if (key == "uid") {
    KILN_ASSIGN_OR_RETURN(m.uid, ParseUint(val, 10, "uid"));
  } else if (key == "gid") {
    KILN_ASSIGN_OR_RETURN(m.gid, ParseUint(val, 10, "gid"));
  } else if (key == "size") {
    KILN_ASSIGN_OR_RETURN(m.size_bytes, ParseSize(val));
  } else if (key == "required") {
    KILN_ASSIGN_OR_RETURN(m.required, ParseBoolValue(has_val ? val : ""));
  } else if (key == "env") {
    m.env = std::string(val);
  } else {
    return absl::InvalidArgumentError(absl::StrCat("unexpected key '", base::AsAbsl(key), "' in mount: expected type, target, source, from, readonly, id, sharing, mode, uid, gid, size, required or env"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status Lowerer::LowerRun(int stage, const Command& cmd, const RunInstr& run) {
  graph::ExecOp ex;
  std::vector<graph::VertexId> inputs = {state(stage).vertex};
  std::vector<std::string> args = run.cmd;
  if (!run.files.empty()) {
    if (args.size() != 1 || !run.prepend_shell) {
      return Error(cmd.line, "RUN with a heredoc must use the shell form: expected RUN <<EOF");
    }
    if (ParseHeredocWord(args[0]).has_value()) {
      const Heredoc& h = run.files[0];
      std::string data = h.chomp ? ChompHeredocContent(h.content) : h.content;
      if (absl::StartsWith(data, "#!")) {
        graph::FileOp f;
        f.has_base = false;
        graph::FileAction a;
        a.kind = graph::FileAction::Kind::kMkfile;
        a.path = "/" + h.name;
        a.mode = 0755;
        a.data = data;
        f.actions.push_back(std::move(a));
        KILN_ASSIGN_OR_RETURN(graph::VertexId v, Add(std::move(f), {}, stage, nullptr, "preparing inline document"));
        ExecMount m;
        m.target = "/dev/pipes/";
        m.input = static_cast<int>(inputs.size());
        m.source = "/";
        m.readonly = true;
        inputs.push_back(v);
        ex.mounts.push_back(std::move(m));
        args = {"/dev/pipes/" + h.name};
      } else {
        args = {data};
      }
    } else {
      std::string full = args[0];
      for (const Heredoc& h : run.files) absl::StrAppend(&full, "\n", h.content, h.name);
      args = {full};
    }
  }
  if (run.prepend_shell) {
    std::vector<std::string> sh = ShellArgs(stage, args.size());
    for (std::string& a : args) sh.push_back(std::move(a));
    args = std::move(sh);
  }
  std::string created_by = absl::StrCat("RUN ", absl::StrJoin(args, " "), " # buildkit");
  ex.args = std::move(args);
  ex.env = ExecEnv(stage);
  ex.cwd = state(stage).config.working_dir.empty() ? "/" : state(stage).config.working_dir;
  ex.user = state(stage).config.user;
  ex.network = run.network.empty() || run.network == "default" ? "sandbox" : run.network;
  ex.security = run.security.empty() ? "sandbox" : run.security;
  for (const auto& [k, v] : opt().build_args) {
    if (IsProxyArg(k)) ex.proxy_env.push_back(k + "=" + v);
  }
  for (const std::string& spec : run.mounts) {
    ExecMount m;
    m.readonly = true;
    bool readonly_set = false;
    std::string from;
    for (absl::string_view afield : absl::StrSplit(base::AsAbsl(spec), ',')) {
      std::string_view field(afield.data(), afield.size());
      if (field.empty()) continue;
      size_t eq = field.find('=');
      std::string key = absl::AsciiStrToLower(base::AsAbsl(field.substr(0, eq)));
      std::string val;
      if (eq != std::string_view::npos) {
        KILN_ASSIGN_OR_RETURN(val, Expand(stage, cmd.line, field.substr(eq + 1)));
      }
      readonly_set = readonly_set || key == "ro" || key == "readonly" || key == "rw" || key == "readwrite";
      absl::Status s = ParseMountField(key, val, eq != std::string_view::npos, m, &from);
      if (!s.ok()) return Error(cmd.line, absl::StrCat("RUN --mount=", spec, ": ", s.message()));
    }
    if (!readonly_set) m.readonly = m.type == ExecMount::Type::kBind;
    KILN_RETURN_IF_ERROR(FinishMount(stage, cmd, spec, from, m, inputs));
    ex.mounts.push_back(std::move(m));
  }
  KILN_ASSIGN_OR_RETURN(state(stage).vertex, Add(std::move(ex), std::move(inputs), stage, &cmd));
  Commit(stage, std::move(created_by), true);
  return absl::OkStatus();
}

absl::Status Lowerer::FinishMount(int stage, const Command& cmd, const std::string& spec,
                                  const std::string& from, ExecMount& m,
                                  std::vector<graph::VertexId>& inputs) {
  using T = ExecMount::Type;
  const std::string wd = state(stage).config.working_dir.empty() ? "/" : state(stage).config.working_dir;
  if (m.type == T::kSecret) {
    if (m.id.empty() && m.target.empty()) {
      return Error(cmd.line, absl::StrCat("RUN --mount=", spec, ": secret mount needs id or target"));
    }
    if (m.target.empty() && m.env.empty()) m.target = "/run/secrets/" + m.id;
    if (m.id.empty()) m.id = m.target.substr(m.target.rfind('/') + 1);
    m.cache_id.clear();
  } else if (m.type == T::kSsh) {
    if (m.id.empty()) m.id = "default";
    if (m.target.empty()) m.target = "/run/buildkit/ssh_agent.0";
    m.cache_id.clear();
  } else if (m.target.empty()) {
    return Error(cmd.line, absl::StrCat("RUN --mount=", spec, ": missing target: expected target=<path>"));
  }
  if (!m.target.empty()) m.target = JoinPath(wd, m.target, false);
  if (m.type == T::kCache) {
    if (m.cache_id.empty()) m.cache_id = m.target;
    if (m.sharing.empty()) m.sharing = "shared";
  }
  if (m.type == T::kBind || m.type == T::kCache) {
    if (m.source.empty()) m.source.push_back('/');
    m.source = CleanPath("/" + m.source);
    if (!from.empty()) {
      KILN_ASSIGN_OR_RETURN(graph::VertexId v, FromVertex(stage, cmd.line, from, nullptr));
      m.input = static_cast<int>(inputs.size());
      inputs.push_back(v);
    } else if (m.type == T::kBind) {
      std::string inc = m.source == "/" ? "." : m.source.substr(1);
      KILN_ASSIGN_OR_RETURN(graph::VertexId v, ContextVertex({inc}, {}));
      m.input = static_cast<int>(inputs.size());
      inputs.push_back(v);
    }
  } else if (!from.empty()) {
    return Error(cmd.line, absl::StrCat("RUN --mount=", spec, ": from= is only valid for bind and cache mounts"));
  }
  return absl::OkStatus();
}

absl::Status Lowerer::LowerWorkdir(int stage, const Command& cmd, const WorkdirInstr& w) {
  KILN_ASSIGN_OR_RETURN(std::string p, Expand(stage, cmd.line, w.path));
  CheckWorkdir(stage, cmd.line, p);
  StageState& st = state(stage);
  std::string wd = JoinPath(st.config.working_dir.empty() ? "/" : st.config.working_dir, p, false);
  st.config.working_dir = wd;
  graph::FileOp f;
  graph::FileAction a;
  a.kind = graph::FileAction::Kind::kMkdir;
  a.path = wd;
  a.mode = 0755;
  a.make_parents = true;
  if (!st.config.user.empty()) {
    std::vector<std::string> ug = absl::StrSplit(st.config.user, absl::MaxSplits(':', 1));
    a.chown = graph::Chown{ug[0], ug.size() > 1 ? ug[1] : ""};
  }
  f.actions.push_back(std::move(a));
  KILN_ASSIGN_OR_RETURN(state(stage).vertex, Add(std::move(f), {state(stage).vertex}, stage, &cmd));
  Commit(stage, "WORKDIR " + wd, true);  // the mkdir makes a (possibly empty) layer
  return absl::OkStatus();
}

}  // namespace kiln::engine::internal
