// Lowering of the instructions that only change the image config (and ARG).
#include <algorithm>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "base/status.h"
#include "engine/frontend/lower_internal.h"
#include "nlohmann/json.hpp"

namespace kiln::engine::internal {
namespace {

void AddSorted(std::vector<std::string>& v, std::string s) {
  auto it = std::lower_bound(v.begin(), v.end(), s);
  if (it == v.end() || *it != s) v.insert(it, std::move(s));
}

// Compact JSON array of strings (nlohmann's dump, without building a json value when every
// string is printable ASCII that needs no escaping: the common case).
std::string JsonArray(const std::vector<std::string>& v) {
  std::string out = "[";
  for (const std::string& s : v) {
    for (char c : s) {
      if (c < 0x20 || c > 0x7E || c == '"' || c == '\\') {
        return nlohmann::json(v).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
      }
    }
    if (out.size() > 1) out.push_back(',');
    out.push_back('"');
    out.append(s);
    out.push_back('"');
  }
  out.push_back(']');
  return out;
}

bool AllDigits(std::string_view s) {
  return !s.empty() && s.size() <= 5 &&
         std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// "80", "80/tcp", "8000-8010/udp" -> "80/tcp", ... (ranges expanded). As BuildKit, an
// "[ip:]host-port:" prefix is accepted and ignored (ExposeInvalidFormat warns about it).
absl::Status ParsePorts(std::string_view raw, std::vector<std::string>& out) {
  std::string_view spec = raw;
  if (size_t colon = raw.rfind(':'); colon != std::string_view::npos) spec = raw.substr(colon + 1);
  std::string_view port = spec;
  std::string proto = "tcp";
  if (size_t slash = spec.find('/'); slash != std::string_view::npos) {
    port = spec.substr(0, slash);
    proto = absl::AsciiStrToLower(base::AsAbsl(spec.substr(slash + 1)));
  }
  if (proto != "tcp" && proto != "udp" && proto != "sctp") {
    return absl::InvalidArgumentError(absl::StrCat("invalid protocol in EXPOSE ", base::AsAbsl(raw),
                                                   ": expected tcp, udp or sctp"));
  }
  std::string_view lo = port, hi = port;
  if (size_t dash = port.find('-'); dash != std::string_view::npos) {
    lo = port.substr(0, dash);
    hi = port.substr(dash + 1);
  }
  if (!AllDigits(lo) || !AllDigits(hi) || std::stoi(std::string(lo)) > 65535 ||
      std::stoi(std::string(hi)) > 65535 || std::stoi(std::string(lo)) > std::stoi(std::string(hi))) {
    return absl::InvalidArgumentError(absl::StrCat("invalid port in EXPOSE ", base::AsAbsl(raw),
                                                   ": expected <port>[-<port>][/<proto>]"));
  }
  for (int p = std::stoi(std::string(lo)); p <= std::stoi(std::string(hi)); ++p) {
    AddSorted(out, absl::StrCat(p, "/", proto));
  }
  return absl::OkStatus();
}

bool ValidSignal(std::string_view s) {
  if (AllDigits(s)) return std::stoi(std::string(s)) > 0 && std::stoi(std::string(s)) < 65;
  std::string u = absl::AsciiStrToUpper(base::AsAbsl(s));
  if (absl::StartsWith(u, "SIG")) u = u.substr(3);
  static const char* const kNames[] = {
      "HUP",  "INT",  "QUIT", "ILL",  "TRAP", "ABRT",   "IOT",   "BUS",  "FPE",  "KILL",
      "USR1", "SEGV", "USR2", "PIPE", "ALRM", "TERM",   "STKFLT", "CHLD", "CONT", "STOP",
      "TSTP", "TTIN", "TTOU", "URG",  "XCPU", "XFSZ",   "VTALRM", "PROF", "WINCH", "IO",
      "POLL", "PWR",  "SYS"};
  for (const char* n : kNames) {
    if (u == n) return true;
  }
  return absl::StartsWith(u, "RTMIN") || absl::StartsWith(u, "RTMAX");
}

}  // namespace

absl::Status Lowerer::LowerArg(int stage, const Command& cmd, const ArgInstr& arg) {
  std::vector<std::string> commit;
  for (const ArgSpec& a : arg.args) {
    checks::SecretKey(checks(), "ARG", a.key, cmd.line, &cmd.comments);
    std::optional<std::string> v = BuildArgValue(a.key);
    if (!v && a.default_value) {
      KILN_ASSIGN_OR_RETURN(std::string e, Expand(stage, cmd.line, *a.default_value));
      v = std::move(e);
    }
    if (!v) {
      for (const auto& [k, mv] : meta_args()) {
        if (k == a.key) v = mv;
      }
    }
    StageState& st = state(stage);
    if (std::find(st.declared_args.begin(), st.declared_args.end(), a.key) ==
        st.declared_args.end()) {
      st.declared_args.push_back(a.key);
    }
    std::erase_if(st.args, [&](const auto& kv) { return kv.first == a.key; });
    if (v) st.args.emplace_back(a.key, *v);
    commit.push_back(v ? a.key + "=" + *v : a.key);
  }
  Commit(stage, "ARG " + absl::StrJoin(commit, " "), false);
  return absl::OkStatus();
}

absl::Status Lowerer::LowerConfig(int stage, const Command& cmd) {
  const int line = cmd.line;
  oci::ImageConfig& cfg = state(stage).config;
  std::string created;  // history text when it differs from the instruction as written
  auto expand = [&](std::string_view w) { return Expand(stage, line, w); };
  if (const auto* e = std::get_if<EnvInstr>(&cmd.instr)) {
    std::vector<std::pair<std::string, std::string>> kvs;
    kvs.reserve(e->vars.size());
    created = "ENV ";
    for (const KeyValue& kv : e->vars) {
      KILN_ASSIGN_OR_RETURN(std::string k, expand(kv.key));
      KILN_ASSIGN_OR_RETURN(std::string v, expand(kv.value));
      if (k.empty()) return Error(line, "ENV names an empty variable: expected ENV <key>=<value>");
      absl::StrAppend(&created, kvs.empty() ? "" : " ", k, "=", v);
      kvs.emplace_back(std::move(k), std::move(v));
    }
    for (auto& [k, v] : kvs) oci::EnvSet(cfg.env, k, v);
  } else if (const auto* l = std::get_if<LabelInstr>(&cmd.instr)) {
    created = "LABEL ";
    bool first = true;
    for (const KeyValue& kv : l->labels) {
      KILN_ASSIGN_OR_RETURN(std::string k, expand(kv.key));
      KILN_ASSIGN_OR_RETURN(std::string v, expand(kv.value));
      if (k.empty()) return Error(line, "LABEL names an empty key: expected LABEL <key>=<value>");
      absl::StrAppend(&created, first ? "" : " ", k, "=", v);
      first = false;
      cfg.labels[std::move(k)] = std::move(v);
    }
  } else if (const auto* m = std::get_if<MaintainerInstr>(&cmd.instr)) {
    state(stage).author = m->name;  // BuildKit's dispatchMaintainer: the image's author, no label
  } else if (const auto* x = std::get_if<ExposeInstr>(&cmd.instr)) {
    for (const std::string& p : x->ports) {
      KILN_ASSIGN_OR_RETURN(std::string ps, expand(p));
      for (absl::string_view one : absl::StrSplit(ps, ' ', absl::SkipEmpty())) {
        checks::ExposePort(checks(), std::string_view(one.data(), one.size()), line, &cmd.comments);
        if (absl::Status s = ParsePorts(std::string_view(one.data(), one.size()), cfg.exposed_ports); !s.ok()) return Error(line, s.message());
      }
    }
  } else if (const auto* v = std::get_if<VolumeInstr>(&cmd.instr)) {
    for (const std::string& p : v->paths) {
      KILN_ASSIGN_OR_RETURN(std::string e, expand(p));
      if (e.empty()) return Error(line, "VOLUME specified can not be an empty string: expected a path");
      AddSorted(cfg.volumes, e);
    }
  } else if (const auto* u = std::get_if<UserInstr>(&cmd.instr)) {
    KILN_ASSIGN_OR_RETURN(cfg.user, expand(u->user));
    created = "USER " + cfg.user;
  } else if (const auto* s = std::get_if<StopSignalInstr>(&cmd.instr)) {
    KILN_ASSIGN_OR_RETURN(std::string sig, expand(s->signal));
    if (!ValidSignal(sig)) {
      return Error(line, absl::StrCat("invalid STOPSIGNAL '", sig, "': expected a signal name (SIGTERM) or number"));
    }
    cfg.stop_signal = sig;
  } else if (const auto* h = std::get_if<HealthcheckInstr>(&cmd.instr)) {
    oci::Healthcheck hc;
    hc.test = h->test;
    hc.interval_ns = h->interval_ns;
    hc.timeout_ns = h->timeout_ns;
    hc.start_period_ns = h->start_period_ns;
    hc.start_interval_ns = h->start_interval_ns;
    hc.retries = h->retries;
    cfg.healthcheck = std::move(hc);
  } else if (const auto* sh = std::get_if<ShellInstr>(&cmd.instr)) {
    cfg.shell = sh->shell;
  } else if (const auto* o = std::get_if<OnbuildInstr>(&cmd.instr)) {
    cfg.on_build.push_back(o->expression);
  } else if (const auto* c = std::get_if<CmdInstr>(&cmd.instr)) {
    std::vector<std::string> v = CommandLine(stage, c->prepend_shell, c->cmd);
    created = "CMD " + JsonArray(v);
    cfg.cmd = std::move(v);
    state(stage).cmd_set = true;
  } else if (const auto* en = std::get_if<EntrypointInstr>(&cmd.instr)) {
    std::vector<std::string> v = CommandLine(stage, en->prepend_shell, en->cmd);
    created = "ENTRYPOINT " + JsonArray(v);
    cfg.entrypoint = std::move(v);
    if (!state(stage).cmd_set) cfg.cmd.reset();
  }
  Commit(stage, created.empty() ? cmd.original : std::move(created), false);
  return absl::OkStatus();
}

}  // namespace kiln::engine::internal
