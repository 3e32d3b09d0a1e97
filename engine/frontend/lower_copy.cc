// Lowering of COPY and ADD.
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "base/status.h"
#include "engine/frontend/lower_internal.h"

namespace kiln::engine::internal {
namespace {

bool IsUrl(std::string_view s) {
  return s.starts_with("http://") || s.starts_with("https://");
}

bool IsGitUrl(std::string_view s) {
  return s.starts_with("git@") || s.starts_with("git://") ||
         (IsUrl(s) && (s.ends_with(".git") || s.find(".git#") != std::string_view::npos));
}

std::string UrlFilename(std::string_view url) {
  std::string_view path = url.substr(url.find("://") + 3);
  path = path.substr(0, path.find_first_of("?#"));
  size_t slash = path.find('/');
  if (slash == std::string_view::npos) return "__unnamed__";
  path = path.substr(slash);
  while (!path.empty() && path.back() == '/') path.remove_suffix(1);
  std::string_view base = path.substr(path.rfind('/') + 1);
  return base.empty() ? "__unnamed__" : std::string(base);
}

// --chmod: octal digits, or a symbolic mode (u+x, a=rw,g-w ...).
absl::Status ParseChmod(std::string_view v, graph::FileAction& a) {
  if (v.empty()) return absl::OkStatus();
  bool octal = v.size() <= 4;
  uint32_t m = 0;
  for (char c : v) octal = octal && c >= '0' && c <= '7', m = m * 8 + static_cast<uint32_t>(c - '0');
  if (octal) {
    a.mode = m;
    return absl::OkStatus();
  }
  for (char c : v) {
    if (std::string_view("ugoa+-=rwxXst,01234567").find(c) == std::string_view::npos) {
      return absl::InvalidArgumentError(absl::StrCat(
          "invalid --chmod=", base::AsAbsl(v), ": expected an octal mode or a symbolic mode like u+x"));
    }
  }
  a.mode_string = std::string(v);
  return absl::OkStatus();
}

}  // namespace

absl::Status Lowerer::LowerCopy(int stage, const Command& cmd, const CopyInstr& c) {
  const char* kw = c.is_add ? "ADD" : "COPY";
  KILN_ASSIGN_OR_RETURN(std::string dest, Expand(stage, cmd.line, c.dest));
  std::vector<std::string> srcs;
  for (const std::string& s : c.sources) {
    KILN_ASSIGN_OR_RETURN(std::string e, Expand(stage, cmd.line, s));
    srcs.push_back(std::move(e));
  }
  std::vector<std::string> excludes;
  for (const std::string& s : c.excludes) {
    KILN_ASSIGN_OR_RETURN(std::string e, Expand(stage, cmd.line, s));
    excludes.push_back(std::move(e));
  }
  StageState& st = state(stage);
  const std::string wd = st.config.working_dir.empty() ? "/" : st.config.working_dir;
  if (srcs.size() + c.source_contents.size() > 1 && !dest.ends_with("/")) {
    return Error(cmd.line, absl::StrCat("When using ", kw, " with more than one source file, "
                                        "the destination must be a directory and end with a /"));
  }
  std::string dest_path = JoinPath(wd, dest, true);
  if (dest.ends_with("/") && !dest_path.ends_with("/")) dest_path += "/";

  graph::FileAction proto;
  proto.kind = graph::FileAction::Kind::kCopy;
  proto.path = dest_path;
  proto.allow_empty_wildcard = true;
  proto.parents = c.parents;
  proto.link = c.link;  // recorded only; see graph::FileAction::link
  proto.excludes = excludes;
  if (!c.chown.empty()) {
    KILN_ASSIGN_OR_RETURN(std::string chown, Expand(stage, cmd.line, c.chown));
    std::vector<std::string> ug = absl::StrSplit(chown, absl::MaxSplits(':', 1));
    proto.chown = graph::Chown{ug[0], ug.size() > 1 ? ug[1] : ""};
  }
  if (!c.chmod.empty()) {
    KILN_ASSIGN_OR_RETURN(std::string chmod, Expand(stage, cmd.line, c.chmod));
    if (absl::Status s = ParseChmod(chmod, proto); !s.ok()) return Error(cmd.line, s.message());
  }
  std::string checksum;
  if (!c.checksum.empty()) {
    KILN_ASSIGN_OR_RETURN(checksum, Expand(stage, cmd.line, c.checksum));
  }

  graph::FileOp f;
  std::vector<graph::VertexId> inputs = {st.vertex};
  std::vector<std::string> local;  // context paths, one copy action for all of them
  for (const std::string& s : srcs) {
    if (c.from.empty() && c.is_add && (IsUrl(s) || IsGitUrl(s))) {
      graph::SourceOp src;
      graph::FileAction a = proto;
      if (IsGitUrl(s)) {
        src.kind = graph::SourceOp::Kind::kGit;
        src.keep_git_dir = c.keep_git_dir;
        a.src_paths = {"/"};
      } else {
        src.kind = graph::SourceOp::Kind::kHttp;
        src.filename = UrlFilename(s);
        a.src_paths = {"/" + src.filename};
        a.allow_wildcard = false;
      }
      src.ref = s;
      src.checksum = checksum;
      KILN_ASSIGN_OR_RETURN(graph::VertexId v, Add(std::move(src), {}, stage, nullptr, "fetch " + s));
      a.src_input = static_cast<int>(inputs.size());
      inputs.push_back(v);
      f.actions.push_back(std::move(a));
      continue;
    }
    if (c.from.empty()) CheckCopySource(cmd, c.is_add, s);
    local.push_back(s);
  }
  if (!checksum.empty() && !local.empty()) {
    return Error(cmd.line, "ADD --checksum is only valid for URL sources: expected an http(s) or git URL");
  }
  if (!local.empty()) {
    graph::FileAction a = proto;
    a.auto_extract = c.is_add;
    std::vector<std::string> includes;
    for (const std::string& s : local) {
      std::string clean = CleanPath("/" + s);
      // COPY --parents: keep a "/./" pivot (cleaned on both sides) for the executor.
      if (size_t pivot = s.find("/./"); c.parents && pivot != std::string::npos) {
        // StrCat, not "/" + std::string: GCC 12 -O3 warns -Wrestrict on the latter.
        const std::string_view sv = s;
        std::string below = CleanPath(absl::StrCat("/", base::AsAbsl(sv.substr(pivot + 3))));
        std::string top = CleanPath(absl::StrCat("/", base::AsAbsl(sv.substr(0, pivot))));
        a.src_paths.push_back(absl::StrCat(top == "/" ? "" : top, "/.", below));
        includes.push_back(clean == "/" ? "." : clean.substr(1));
        continue;
      }
      a.src_paths.push_back(clean);
      includes.push_back(clean == "/" ? "." : clean.substr(1));
    }
    graph::VertexId v = 0;
    if (!c.from.empty()) {
      KILN_ASSIGN_OR_RETURN(std::string from, Expand(stage, cmd.line, c.from));
      KILN_ASSIGN_OR_RETURN(v, FromVertex(stage, cmd.line, from, nullptr));
    } else {
      KILN_ASSIGN_OR_RETURN(v, ContextVertex(std::move(includes), {}));
    }
    a.src_input = static_cast<int>(inputs.size());
    inputs.push_back(v);
    f.actions.push_back(std::move(a));
  }
  for (const Heredoc& h : c.source_contents) {
    std::string data = h.chomp ? ChompHeredocContent(h.content) : h.content;
    if (h.expand) {
      ShellLexer lex(ShellLexerOptions{.escape = df().directives.escape, .skip_process_quotes = true});
      absl::StatusOr<std::string> e = lex.ProcessWord(data, Vars(stage));
      if (!e.ok()) return Error(cmd.line, absl::StrCat("heredoc ", h.name, ": ", e.status().message()));
      data = *e;
    }
    graph::FileOp mk;
    mk.has_base = false;
    graph::FileAction m;
    m.kind = graph::FileAction::Kind::kMkfile;
    m.path = "/" + h.name;
    m.mode = proto.mode.value_or(0644);
    m.data = std::move(data);
    mk.actions.push_back(std::move(m));
    KILN_ASSIGN_OR_RETURN(graph::VertexId v, Add(std::move(mk), {}, stage, nullptr, "preparing inline document"));
    graph::FileAction a = proto;
    a.src_paths = {"/" + h.name};
    a.allow_wildcard = false;
    a.src_input = static_cast<int>(inputs.size());
    inputs.push_back(v);
    f.actions.push_back(std::move(a));
  }
  if (f.actions.empty()) {
    return Error(cmd.line, absl::StrCat(kw, " has no source: expected ", kw, " <src>... <dest>"));
  }
  KILN_ASSIGN_OR_RETURN(state(stage).vertex, Add(std::move(f), std::move(inputs), stage, &cmd));
  std::vector<std::string> all = srcs;
  for (const Heredoc& h : c.source_contents) all.push_back("<<" + h.name);
  Commit(stage, absl::StrCat(kw, " ", absl::StrJoin(all, " "), " ", dest, " # buildkit"), true);
  return absl::OkStatus();
}

}  // namespace kiln::engine::internal
