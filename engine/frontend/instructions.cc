#include "engine/frontend/instructions.h"

#include <algorithm>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/inlined_vector.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/status.h"
#include "engine/frontend/parser_internal.h"
#include "engine/frontend/text.h"

namespace kiln::engine {
namespace {

absl::Status Invalid(std::string_view m) { return absl::InvalidArgumentError(base::AsAbsl(m)); }

std::string Upper(std::string_view s) { return absl::AsciiStrToUpper(base::AsAbsl(s)); }

// The flags an instruction accepts, parsed from AstNode::flags.
class Flags {
 public:
  enum class Type { kString, kBool, kList };
  Flags(std::string_view keyword, std::initializer_list<std::pair<const char*, Type>> decl)
      : keyword_(keyword) {
    for (const auto& [name, type] : decl) flags_.push_back({name, Flag{type}});
  }

  absl::Status Parse(const std::vector<std::string>& raw) {
    for (const std::string& f : raw) {
      if (f.size() < 3 || f.compare(0, 2, "--") != 0) {
        return Invalid(absl::StrCat("invalid flag '", f, "' on ", keyword_,
                                    ": expected --name=value"));
      }
      size_t eq = f.find('=');
      std::string name = f.substr(2, eq == std::string::npos ? std::string::npos : eq - 2);
      auto it = std::find_if(flags_.begin(), flags_.end(),
                             [&](const auto& f) { return f.first == name; });
      if (it == flags_.end()) {
        return Invalid(absl::StrCat("unknown flag --", name, " on ", keyword_,
                                    ": expected one of ", Known()));
      }
      Flag& fl = it->second;
      if (fl.seen && fl.type != Type::kList) {
        return Invalid(absl::StrCat("duplicate flag --", name, " on ", keyword_,
                                    ": expected it at most once"));
      }
      fl.seen = true;
      if (eq == std::string::npos) {
        if (fl.type != Type::kBool) {
          return Invalid(absl::StrCat("missing a value on flag --", name, " of ", keyword_,
                                      ": expected --", name, "=<value>"));
        }
        fl.values.push_back("true");
        continue;
      }
      std::string value = f.substr(eq + 1);
      if (fl.type == Type::kBool) {
        std::string v = absl::AsciiStrToLower(value);
        if (v != "true" && v != "false") {
          return Invalid(absl::StrCat("invalid value '", value, "' for --", name, " of ",
                                      keyword_, ": expected true or false"));
        }
        value = v;
      }
      fl.values.push_back(std::move(value));
    }
    return absl::OkStatus();
  }

  std::string Str(std::string_view name) const {
    const Flag& f = At(name);
    return f.values.empty() ? std::string() : f.values.back();
  }
  bool Bool(std::string_view name) const {
    const Flag& f = At(name);
    return !f.values.empty() && f.values.back() == "true";
  }
  bool Seen(std::string_view name) const { return At(name).seen; }
  std::vector<std::string> List(std::string_view name) const { return At(name).values; }

 private:
  struct Flag {
    Type type;
    bool seen = false;
    std::vector<std::string> values;
  };
  const Flag& At(std::string_view name) const {
    for (const auto& f : flags_) {
      if (f.first == name) return f.second;
    }
    static const Flag kNone{Type::kString};
    return kNone;
  }
  std::string Known() const {
    if (flags_.empty()) return "no flags";
    std::vector<std::string_view> names;
    for (const auto& f : flags_) names.push_back(f.first);
    std::sort(names.begin(), names.end());
    std::string out;
    for (std::string_view n : names) {
      if (!out.empty()) out += ", ";
      out += "--";
      out.append(n);
    }
    return out;
  }
  std::string keyword_;
  absl::InlinedVector<std::pair<std::string_view, Flag>, 8> flags_;  // no allocation
};

using FT = Flags::Type;

absl::Status NoFlags(const AstNode& n, std::string_view kw) {
  if (n.flags.empty()) return absl::OkStatus();
  return Flags(kw, {}).Parse(n.flags);
}

absl::Status AtLeast(const AstNode& n, std::string_view kw, size_t count, std::string_view what) {
  if (n.args.size() >= count) return absl::OkStatus();
  return Invalid(absl::StrCat(base::AsAbsl(kw), " requires at least ", count, " argument",
                              count == 1 ? "" : "s", ": expected ", base::AsAbsl(what)));
}

absl::Status Exactly(const AstNode& n, std::string_view kw, std::string_view what) {
  if (n.args.size() == 1) return absl::OkStatus();
  return Invalid(absl::StrCat(base::AsAbsl(kw), " requires exactly one argument: expected ",
                              base::AsAbsl(what)));
}

absl::StatusOr<RunInstr> ParseRun(AstNode& n) {
  Flags f("RUN", {{"mount", FT::kList}, {"network", FT::kString}, {"security", FT::kString}});
  KILN_RETURN_IF_ERROR(f.Parse(n.flags));
  if (n.args.empty() && n.heredocs.empty()) {
    return Invalid("RUN requires at least one argument: expected a command");
  }
  RunInstr r;
  r.cmd = std::move(n.args);
  r.prepend_shell = !n.json;
  r.mounts = f.List("mount");
  r.network = f.Str("network");
  if (!r.network.empty() && r.network != "default" && r.network != "none" &&
      r.network != "host") {
    return Invalid(absl::StrCat("invalid --network=", r.network,
                                " on RUN: expected default, none or host"));
  }
  r.security = f.Str("security");
  if (!r.security.empty() && r.security != "sandbox" && r.security != "insecure") {
    return Invalid(absl::StrCat("invalid --security=", r.security,
                                " on RUN: expected sandbox or insecure"));
  }
  r.files = std::move(n.heredocs);
  return r;
}

absl::StatusOr<CopyInstr> ParseCopy(AstNode& n, bool is_add) {
  const std::string kw = is_add ? "ADD" : "COPY";
  Flags f = is_add ? Flags(kw, {{"chown", FT::kString},
                                {"chmod", FT::kString},
                                {"checksum", FT::kString},
                                {"keep-git-dir", FT::kBool},
                                {"link", FT::kBool},
                                {"exclude", FT::kList},
                                {"unpack", FT::kBool}})
                   : Flags(kw, {{"from", FT::kString},
                                {"chown", FT::kString},
                                {"chmod", FT::kString},
                                {"link", FT::kBool},
                                {"parents", FT::kBool},
                                {"exclude", FT::kList}});
  KILN_RETURN_IF_ERROR(f.Parse(n.flags));
  if (n.args.size() < 2) {
    return Invalid(absl::StrCat(kw, " requires at least two arguments, but only ",
                                n.args.size(), " was provided: expected ", kw,
                                " <src>... <dest>"));
  }
  CopyInstr c;
  c.is_add = is_add;
  c.dest = std::move(n.args.back());
  c.sources.reserve(n.args.size() - 1);
  for (size_t i = 0; i + 1 < n.args.size(); ++i) {
    std::string& src = n.args[i];
    bool heredoc = false;
    if (!n.json) {
      std::optional<Heredoc> doc = ParseHeredocWord(src);
      if (doc) {
        for (const Heredoc& h : n.heredocs) {
          if (h.name == doc->name) {
            c.source_contents.push_back(h);
            heredoc = true;
            break;
          }
        }
      }
    }
    if (!heredoc) c.sources.push_back(std::move(src));
  }
  c.chown = f.Str("chown");
  c.chmod = f.Str("chmod");
  c.link = f.Bool("link");
  c.excludes = f.List("exclude");
  if (is_add) {
    c.checksum = f.Str("checksum");
    c.keep_git_dir = f.Bool("keep-git-dir");
  } else {
    c.from = f.Str("from");
    c.parents = f.Bool("parents");
  }
  return c;
}

absl::StatusOr<HealthcheckInstr> ParseHealthcheck(const AstNode& n) {
  HealthcheckInstr h;
  if (n.args.empty()) {
    return Invalid("HEALTHCHECK requires an argument: expected NONE or CMD <command>");
  }
  std::string type = Upper(n.args[0]);
  if (type == "NONE") {
    if (n.args.size() > 1 || !n.flags.empty()) {
      return Invalid("HEALTHCHECK NONE takes no other arguments or flags: expected just NONE");
    }
    h.none = true;
    h.test = {"NONE"};
    return h;
  }
  if (type != "CMD") {
    return Invalid(absl::StrCat("unknown type ", internal::GoQuote(n.args[0]),
                                " in HEALTHCHECK: expected CMD or NONE"));
  }
  Flags f("HEALTHCHECK", {{"interval", FT::kString},
                          {"timeout", FT::kString},
                          {"start-period", FT::kString},
                          {"start-interval", FT::kString},
                          {"retries", FT::kString}});
  KILN_RETURN_IF_ERROR(f.Parse(n.flags));
  if (n.args.size() < 2) {
    return Invalid("missing command after HEALTHCHECK CMD: expected HEALTHCHECK CMD <command>");
  }
  if (n.json) {
    h.test = {"CMD"};
    h.test.insert(h.test.end(), n.args.begin() + 1, n.args.end());
  } else {
    h.test = {"CMD-SHELL", n.args[1]};
  }
  struct D {
    const char* name;
    int64_t* out;
  };
  for (D d : {D{"interval", &h.interval_ns}, D{"timeout", &h.timeout_ns},
              D{"start-period", &h.start_period_ns}, D{"start-interval", &h.start_interval_ns}}) {
    if (!f.Seen(d.name)) continue;
    absl::StatusOr<int64_t> v = ParseGoDuration(f.Str(d.name));
    if (!v.ok()) {
      return Invalid(absl::StrCat("invalid --", d.name, " on HEALTHCHECK: ", v.status().message()));
    }
    if (*v != 0 && *v < 1000000) {
      return Invalid(absl::StrCat("HEALTHCHECK --", d.name,
                                  " cannot be less than 1ms: expected 0 or at least 1ms"));
    }
    *d.out = *v;
  }
  if (f.Seen("retries")) {
    const std::string r = f.Str("retries");
    int64_t v = 0;
    bool ok = !r.empty() && r.size() < 10;
    for (char c : r) ok = ok && c >= '0' && c <= '9', v = v * 10 + (c - '0');
    if (!ok) {
      return Invalid(absl::StrCat("invalid --retries=", r,
                                  " on HEALTHCHECK: expected a non-negative integer"));
    }
    h.retries = static_cast<int>(v);
  }
  return h;
}

}  // namespace

namespace {

bool ValidArgName(std::string_view k) {
  if (k.empty()) return false;
  for (char c : k) {
    if (!(absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_')) return false;
  }
  return true;
}

absl::StatusOr<ArgInstr> ParseArg(const AstNode& n) {
  KILN_RETURN_IF_ERROR(NoFlags(n, "ARG"));
  KILN_RETURN_IF_ERROR(AtLeast(n, "ARG", 1, "ARG <name>[=<default value>]"));
  ArgInstr a;
  for (const std::string& w : n.args) {
    ArgSpec s;
    size_t eq = w.find('=');
    s.key = w.substr(0, eq);
    if (eq != std::string::npos) {
      s.default_value = w.substr(eq + 1);  // quotes removed at expansion time
    }
    if (!ValidArgName(s.key)) {
      return Invalid(absl::StrCat("invalid ARG name '", s.key,
                                  "': expected letters, digits and underscores"));
    }
    a.args.push_back(std::move(s));
  }
  return a;
}

std::vector<KeyValue> Triples(AstNode& n) {
  std::vector<KeyValue> out;
  out.reserve(n.args.size() / 3);
  for (size_t i = 0; i + 1 < n.args.size(); i += 3) {
    out.push_back({std::move(n.args[i]), std::move(n.args[i + 1])});
  }
  return out;
}

absl::StatusOr<Instruction> ParseSimple(AstNode& n, std::string_view kw) {
  if (kw == "CMD" || kw == "ENTRYPOINT") {
    KILN_RETURN_IF_ERROR(NoFlags(n, kw));
    if (kw == "CMD") return CmdInstr{std::move(n.args), !n.json};
    return EntrypointInstr{std::move(n.args), !n.json};
  }
  if (kw == "ENV" || kw == "LABEL") {
    KILN_RETURN_IF_ERROR(NoFlags(n, kw));
    KILN_RETURN_IF_ERROR(
        AtLeast(n, kw, 1, kw == "ENV" ? "ENV <key>=<value> ..." : "LABEL <key>=<value> ..."));
    // NameVal marks the legacy "KEY value" form with an empty third element.
    const bool legacy = n.args.size() >= 3 && n.args[2].empty();
    if (kw == "ENV") return EnvInstr{Triples(n), legacy};
    return LabelInstr{Triples(n), legacy};
  }
  if (kw == "MAINTAINER") {
    KILN_RETURN_IF_ERROR(NoFlags(n, kw));
    KILN_RETURN_IF_ERROR(AtLeast(n, kw, 1, "MAINTAINER <name>"));
    return MaintainerInstr{std::move(n.args[1])};
  }
  if (kw == "EXPOSE") {
    KILN_RETURN_IF_ERROR(NoFlags(n, kw));
    KILN_RETURN_IF_ERROR(AtLeast(n, kw, 1, "EXPOSE <port>[/<proto>] ..."));
    return ExposeInstr{std::move(n.args)};
  }
  if (kw == "VOLUME") {
    KILN_RETURN_IF_ERROR(NoFlags(n, kw));
    KILN_RETURN_IF_ERROR(AtLeast(n, kw, 1, "VOLUME <path> ..."));
    for (const std::string& v : n.args) {
      if (v.empty()) return Invalid("VOLUME specified can not be an empty string: expected a path");
    }
    return VolumeInstr{std::move(n.args)};
  }
  if (kw == "USER" || kw == "WORKDIR" || kw == "STOPSIGNAL") {
    KILN_RETURN_IF_ERROR(NoFlags(n, kw));
    const char* what = kw == "USER" ? "USER <user>[:<group>]"
                                    : (kw == "WORKDIR" ? "WORKDIR <path>" : "STOPSIGNAL <signal>");
    KILN_RETURN_IF_ERROR(Exactly(n, kw, what));
    if (kw == "USER") return UserInstr{std::move(n.args[0])};
    if (kw == "WORKDIR") return WorkdirInstr{std::move(n.args[0])};
    return StopSignalInstr{std::move(n.args[0])};
  }
  if (kw == "SHELL") {
    KILN_RETURN_IF_ERROR(NoFlags(n, kw));
    if (!n.json) {
      return Invalid("SHELL requires the arguments to be in JSON form: expected SHELL [\"executable\", \"parameters\"]");
    }
    KILN_RETURN_IF_ERROR(AtLeast(n, kw, 1, "SHELL [\"executable\", \"parameters\"]"));
    return ShellInstr{std::move(n.args)};
  }
  return Invalid(absl::StrCat("unknown instruction: ", base::AsAbsl(kw),
                              ": expected a Dockerfile instruction (FROM, RUN, COPY, ...)"));
}

// Converts `n`, moving its strings out (the node is consumed).
absl::StatusOr<Instruction> ParseAny(AstNode& n, std::string_view kw) {
  if (kw == "RUN") return ParseRun(n);
  if (kw == "COPY" || kw == "ADD") return ParseCopy(n, kw == "ADD");
  if (kw == "ARG") return ParseArg(n);
  if (kw == "HEALTHCHECK") return ParseHealthcheck(n);
  if (kw == "ONBUILD") {
    KILN_RETURN_IF_ERROR(NoFlags(n, kw));
    if (n.nested.empty()) return Invalid("ONBUILD requires at least one argument: expected ONBUILD <instruction>");
    std::string inner = Upper(n.nested[0].keyword);
    if (inner == "ONBUILD" || inner == "FROM" || inner == "MAINTAINER") {
      return Invalid(absl::StrCat(inner, " isn't allowed as an ONBUILD trigger: expected another instruction"));
    }
    std::string_view orig = internal::TrimSpace(n.original);
    orig.remove_prefix(std::min(orig.size(), n.keyword.size()));
    return OnbuildInstr{std::string(internal::TrimSpace(orig))};
  }
  return ParseSimple(n, kw);
}

// The instruction's keyword as written (the first word of its line).
std::string WrittenKeyword(std::string_view original) {
  std::string_view t = internal::TrimSpace(original);
  size_t end = 0;
  while (end < t.size() && t[end] != ' ' && t[end] != '\t') ++end;
  return std::string(t.substr(0, end));
}

absl::Status At(std::string_view file, int line, const absl::Status& s) {
  return absl::InvalidArgumentError(
      absl::StrCat(base::AsAbsl(file), ":", line, ": ", s.message()));
}

absl::StatusOr<Stage> ParseFrom(AstNode& n) {
  Flags f("FROM", {{"platform", FT::kString}});
  KILN_RETURN_IF_ERROR(f.Parse(n.flags));
  Stage st;
  if (n.args.size() != 1 && !(n.args.size() == 3 && absl::AsciiStrToLower(n.args[1]) == "as")) {
    return Invalid("FROM requires either one or three arguments: expected FROM <image> [AS <name>]");
  }
  st.from.image = std::move(n.args[0]);
  st.from.platform = f.Str("platform");
  if (n.args.size() == 3) {
    std::string name = absl::AsciiStrToLower(n.args[2]);
    bool ok = !name.empty() && absl::ascii_isalpha(static_cast<unsigned char>(name[0]));
    for (char c : name) {
      ok = ok && (absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.');
    }
    if (!ok) {
      return Invalid(absl::StrCat("invalid stage name '", n.args[2],
                                  "': expected a letter followed by letters, digits, '-', '_' or '.'"));
    }
    st.from.stage_name = name;
  }
  st.original = std::move(n.original);
  st.line = n.start_line;
  return st;
}

}  // namespace

absl::StatusOr<Command> ParseCommand(AstNode n, std::string_view filename) {
  Command c;
  c.keyword = Upper(n.keyword);
  std::string_view trimmed = internal::TrimSpace(n.original);
  c.line = n.start_line;
  if (trimmed.size() != n.original.size()) c.original = std::string(trimmed);
  absl::StatusOr<Instruction> i = ParseAny(n, c.keyword);  // may use n.original
  if (!i.ok()) return At(filename, n.start_line, i.status());
  if (trimmed.size() == n.original.size()) c.original = std::move(n.original);
  c.instr = std::move(*i);
  return c;
}

absl::StatusOr<Dockerfile> ParseInstructions(Ast ast, std::string_view filename) {
  Dockerfile df;
  df.filename = std::string(filename);
  df.directives = std::move(ast.directives);
  CheckRecorder checks_out{std::string(filename)};
  for (int line : ast.empty_continuations) checks::EmptyContinuation(checks_out, line);
  // Instructions per stage, so each stage's command vector is allocated once.
  std::vector<size_t> sizes;
  for (const AstNode& n : ast.nodes) {
    if (n.keyword == "from") {
      sizes.push_back(0);
    } else if (!sizes.empty()) {
      ++sizes.back();
    }
  }
  df.stages.reserve(sizes.size());
  for (AstNode& n : ast.nodes) {
    std::string written = WrittenKeyword(n.original);
    if (n.keyword == "from") {
      const int line = n.start_line;
      checks::FromLine(checks_out, line, written, n.args, n.comments);
      absl::StatusOr<Stage> st = ParseFrom(n);
      if (!st.ok()) return At(filename, line, st.status());
      st->written_keyword = std::move(written);
      st->comments = std::move(n.comments);
      st->commands.reserve(sizes[df.stages.size()]);
      df.stages.push_back(std::move(*st));
      continue;
    }
    const int line = n.start_line;
    std::vector<std::string> comments = std::move(n.comments);
    if (n.keyword == "maintainer") checks::Maintainer(checks_out, line, comments);
    KILN_ASSIGN_OR_RETURN(Command c, ParseCommand(std::move(n), filename));
    if (auto* a = std::get_if<ArgInstr>(&c.instr)) {
      std::vector<std::string> keys;
      for (const ArgSpec& spec : a->args) keys.push_back(spec.key);
      checks::DefinitionDescription(checks_out, "ARG", line, keys, comments);
    }
    c.written_keyword = std::move(written);
    c.comments = std::move(comments);
    if (df.stages.empty()) {
      if (auto* a = std::get_if<ArgInstr>(&c.instr)) {
        df.meta_args.push_back(std::move(*a));
        df.meta_arg_lines.push_back(c.line);
        df.meta_arg_comments.push_back(std::move(c.comments));
        continue;
      }
      return At(filename, line,
                Invalid(absl::StrCat(c.keyword, " before the first FROM: expected FROM "
                                                "(only ARG may come before it)")));
    }
    df.stages.back().commands.push_back(std::move(c));
  }
  if (df.stages.empty()) {
    int line = ast.nodes.empty() ? 1 : ast.nodes.back().end_line;
    return At(filename, line, Invalid("no FROM instruction: expected at least one stage"));
  }
  // BuildKit builds repeated stage names (lowering resolves them, lower.h) and reports them.
  std::vector<std::string> names;
  std::vector<int> lines;
  std::vector<const std::vector<std::string>*> stage_comments;
  std::vector<checks::WrittenKeyword> keywords;
  for (const Stage& st : df.stages) {
    names.push_back(st.from.stage_name);
    lines.push_back(st.line);
    stage_comments.push_back(&st.comments);
    keywords.push_back({st.written_keyword, st.line, &st.comments});
    for (const Command& c : st.commands) {
      keywords.push_back({c.written_keyword, c.line, &c.comments});
    }
  }
  checks::StageNames(checks_out, names, lines, stage_comments);
  checks::InstructionCasing(checks_out, keywords);
  df.checks = checks_out.Take();
  return df;
}

absl::StatusOr<Dockerfile> ParseDockerfileInstructions(std::string_view content,
                                                       std::string_view filename) {
  KILN_ASSIGN_OR_RETURN(Ast ast, ParseDockerfile(content, filename));
  return ParseInstructions(std::move(ast), filename);
}

absl::StatusOr<int64_t> ParseGoDuration(std::string_view s) {
  const std::string orig(s);
  auto bad = [&] {
    return Invalid(absl::StrCat("time: invalid duration \"", orig,
                                "\": expected e.g. 30s, 1m30s, 500ms"));
  };
  bool neg = false;
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) neg = s[0] == '-', s.remove_prefix(1);
  if (s == "0") return 0;
  if (s.empty()) return bad();
  long double total = 0;
  while (!s.empty()) {
    size_t i = 0;
    long double v = 0, frac = 0, scale = 1;
    bool digits = false;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') v = v * 10 + (s[i++] - '0'), digits = true;
    if (i < s.size() && s[i] == '.') {
      ++i;
      while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
        scale /= 10, frac += (s[i++] - '0') * scale, digits = true;
      }
    }
    if (!digits) return bad();
    size_t u = i;
    while (u < s.size() && !(s[u] >= '0' && s[u] <= '9') && s[u] != '.') ++u;
    std::string_view unit = s.substr(i, u - i);
    long double mul = 0;
    if (unit == "ns") mul = 1;
    else if (unit == "us" || unit == "\xC2\xB5s" || unit == "\xCE\xBCs") mul = 1e3;
    else if (unit == "ms") mul = 1e6;
    else if (unit == "s") mul = 1e9;
    else if (unit == "m") mul = 60e9;
    else if (unit == "h") mul = 3600e9;
    else return bad();
    total += (v + frac) * mul;
    if (total > 9.2e18L) return bad();
    s.remove_prefix(u);
  }
  int64_t r = static_cast<int64_t>(total);
  return neg ? -r : r;
}

}  // namespace kiln::engine
