#include "engine/frontend/parser.h"

#include <algorithm>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "base/status.h"
#include "engine/frontend/parser_internal.h"
#include "engine/frontend/shell_lexer.h"
#include "engine/frontend/text.h"

namespace kiln::engine {
namespace {

using internal::TrimLeftSpace;

std::string_view TrimNewline(std::string_view s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

bool IsReSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r'; }

// Splits into lines, each keeping its '\n'.
class LineReader {
 public:
  explicit LineReader(std::string_view data) : data_(data) {}
  bool Next(std::string_view* line) {
    if (pos_ >= data_.size()) return false;
    size_t nl = data_.find('\n', pos_);
    size_t end = nl == std::string_view::npos ? data_.size() : nl + 1;
    *line = data_.substr(pos_, end - pos_);
    pos_ = end;
    return true;
  }

 private:
  std::string_view data_;
  size_t pos_ = 0;
};

// `^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$`
bool MatchDirective(std::string_view line, std::string* key, std::string* value) {
  if (line.empty() || line[0] != '#') return false;
  size_t i = 1;
  while (i < line.size() && IsReSpace(line[i])) ++i;
  size_t k = i;
  if (i >= line.size() || !absl::ascii_isalpha(static_cast<unsigned char>(line[i]))) return false;
  while (i < line.size() && absl::ascii_isalnum(static_cast<unsigned char>(line[i]))) ++i;
  *key = absl::AsciiStrToLower(base::AsAbsl(line.substr(k, i - k)));
  while (i < line.size() && IsReSpace(line[i])) ++i;
  if (i >= line.size() || line[i] != '=') return false;
  ++i;
  while (i < line.size() && IsReSpace(line[i])) ++i;
  size_t e = line.size();
  while (e > i && IsReSpace(line[e - 1])) --e;
  if (e <= i) return false;
  *value = std::string(line.substr(i, e - i));
  return true;
}

class DirectiveState {
 public:
  explicit DirectiveState(Directives* d) : d_(d) {}
  // `*directive` tells whether `line` was a parser directive.
  absl::Status Possible(std::string_view line, bool* directive) {
    *directive = false;
    if (done_) return absl::OkStatus();
    std::string key, value;
    if (!MatchDirective(line, &key, &value) ||
        (key != "syntax" && key != "escape" && key != "check")) {
      done_ = true;
      return absl::OkStatus();
    }
    *directive = true;
    if (key == "syntax") return Set(&seen_syntax_, key, [&] { d_->syntax = value; });
    if (key == "check") return Set(&seen_check_, key, [&] { d_->check = value; });
    if (value != "`" && value != "\\") {
      return absl::InvalidArgumentError(absl::StrCat(
          "invalid escape token '", value, "': expected ` or \\ in the escape directive"));
    }
    return Set(&seen_escape_, key, [&] { d_->escape = value[0]; });
  }

 private:
  template <typename F>
  absl::Status Set(bool* seen, const std::string& key, F f) {
    if (*seen) {
      return absl::InvalidArgumentError(
          absl::StrCat("only one ", key, " parser directive can be used"));
    }
    *seen = true;
    f();
    return absl::OkStatus();
  }
  Directives* d_;
  bool done_ = false;
  bool seen_syntax_ = false, seen_escape_ = false, seen_check_ = false;
};

bool IsCommentLine(std::string_view raw) {
  std::string_view t = TrimLeftSpace(TrimNewline(raw));
  return !t.empty() && t[0] == '#';
}

// Returns the line without a trailing escape+[ \t]*; *more is true if it had one.
std::string_view TrimContinuation(std::string_view line, char escape, bool* more) {
  size_t e = line.size();
  while (e > 0 && (line[e - 1] == ' ' || line[e - 1] == '\t')) --e;
  size_t run = 0;
  while (run < e && line[e - 1 - run] == escape) ++run;
  if (run % 2 == 1) {  // an odd run: the last escape is not itself escaped
    *more = true;
    return line.substr(0, e - 1);
  }
  *more = false;
  return line;
}

class Parser {
 public:
  Parser(std::string_view content, std::string_view filename)
      : content_(content), reader_(content), filename_(filename), directives_(&ast_.directives) {}
  absl::StatusOr<Ast> Run();

 private:
  absl::Status At(int line, const absl::Status& s) const {
    return absl::InvalidArgumentError(
        absl::StrCat(base::AsAbsl(filename_), ":", line, ": ", s.message()));
  }
  absl::Status ReadHeredocs(AstNode& node, int start);

  std::string_view content_;
  LineReader reader_;
  std::string_view filename_;
  Ast ast_;
  DirectiveState directives_;
  int line_ = 0;
  std::vector<std::string> comments_;  // comment lines since the last instruction
};

absl::StatusOr<Ast> Parser::Run() {
  // One node per line at most: reserving that avoids moving nodes as the vector grows.
  const size_t lines = static_cast<size_t>(std::count(content_.begin(), content_.end(), '\n'));
  ast_.nodes.reserve(std::min<size_t>(lines + 1, 16384));
  std::string_view raw;
  while (reader_.Next(&raw)) {
    std::string_view tok = TrimNewline(raw);
    if (line_ == 0 && tok.substr(0, 3) == "\xEF\xBB\xBF") tok.remove_prefix(3);
    tok = TrimLeftSpace(tok);
    ++line_;
    bool directive = false;
    if (absl::Status s = directives_.Possible(tok, &directive); !s.ok()) return At(line_, s);
    if (!tok.empty() && tok[0] == '#') {
      // BuildKit's PrevComment: an empty comment ("#") starts over; directives are not kept.
      std::string_view text = internal::TrimSpace(tok.substr(1));
      if (text.empty()) {
        comments_.clear();
      } else if (!directive) {
        comments_.emplace_back(text);
      }
      tok = {};
    }
    const int start = line_;
    bool more = false;
    std::string_view line = TrimContinuation(tok, ast_.directives.escape, &more);
    if (!more && line.empty()) continue;
    bool empty_continuation = false;
    std::string joined;  // only for continued lines; a single line stays a view
    const bool continued = more;
    if (continued) joined.assign(line);
    while (more && reader_.Next(&raw)) {
      ++line_;
      std::string_view cont = TrimNewline(raw);
      if (IsCommentLine(raw)) continue;
      if (TrimLeftSpace(cont).empty()) {
        empty_continuation = true;
        continue;
      }
      joined.append(TrimContinuation(cont, ast_.directives.escape, &more));
    }
    if (continued) line = joined;
    if (empty_continuation) ast_.empty_continuations.push_back(line_);
    if (internal::TrimSpace(line).empty()) continue;
    absl::StatusOr<AstNode> node = internal::NodeFromLine(line, ast_.directives.escape);
    if (!node.ok()) return At(start, node.status());
    node->start_line = start;
    node->comments = std::move(comments_);
    comments_.clear();
    if (absl::Status s = ReadHeredocs(*node, start); !s.ok()) return s;
    node->end_line = line_;
    ast_.nodes.push_back(std::move(*node));
  }
  if (ast_.nodes.empty()) {
    return At(line_ == 0 ? 1 : line_,
              absl::InvalidArgumentError("file with no instructions: expected at least FROM"));
  }
  return std::move(ast_);
}

absl::Status Parser::ReadHeredocs(AstNode& node, int start) {
  const AstNode& inner = node.nested.empty() ? node : node.nested[0];
  if (inner.json || (inner.keyword != "run" && inner.keyword != "copy" &&
                     inner.keyword != "add")) {
    return absl::OkStatus();
  }
  if (node.original.find("<<") == std::string::npos) return absl::OkStatus();
  ShellLexer lex(ShellLexerOptions{.escape = '\\', .raw_quotes = true, .raw_escapes = true});
  absl::StatusOr<std::vector<std::string>> words = lex.ProcessWords(node.original, nullptr);
  if (!words.ok()) return absl::OkStatus();
  for (const std::string& w : *words) {
    std::optional<Heredoc> doc = ParseHeredocWord(w);
    if (!doc) continue;
    bool terminated = false;
    std::string_view raw;
    while (reader_.Next(&raw)) {
      ++line_;
      std::string_view t = TrimNewline(raw);
      if (doc->chomp) {
        while (!t.empty() && t[0] == '\t') t.remove_prefix(1);
      }
      if (t == doc->name) {
        terminated = true;
        break;
      }
      doc->content.append(raw);
      if (raw.empty() || raw.back() != '\n') doc->content.push_back('\n');
    }
    if (!terminated) {
      return At(start, absl::InvalidArgumentError(absl::StrCat(
                           "unterminated heredoc: expected a line '", doc->name, "'")));
    }
    node.heredocs.push_back(std::move(*doc));
  }
  return absl::OkStatus();
}

void DumpInto(const AstNode& n, std::string& out) {
  out += n.keyword == "maintainer" ? std::string("label") : n.keyword;
  if (!n.flags.empty()) {
    out += " [";
    for (size_t i = 0; i < n.flags.size(); ++i) {
      if (i) out += ' ';
      out += internal::GoQuote(n.flags[i]);
    }
    out += ']';
  }
  for (const std::string& a : n.args) {
    out += ' ';
    out += internal::GoQuote(a);
  }
  for (const AstNode& sub : n.nested) {
    out += " (";
    DumpInto(sub, out);
    out += ')';
  }
}

}  // namespace

absl::StatusOr<Ast> ParseDockerfile(std::string_view content, std::string_view filename) {
  return Parser(content, filename).Run();
}

std::string DumpNode(const AstNode& node) {
  std::string out;
  DumpInto(node, out);
  return out;
}

std::string DumpAst(const Ast& ast) {
  std::string out;
  for (const AstNode& n : ast.nodes) {
    out.push_back('(');
    DumpInto(n, out);
    out += ")\n";
  }
  return out;
}

std::optional<Heredoc> ParseHeredocWord(std::string_view src) {
  size_t i = 0;
  while (i < src.size() && src[i] >= '0' && src[i] <= '9') ++i;
  if (src.substr(i, 2) != "<<") return std::nullopt;
  std::string_view digits = src.substr(0, i);
  i += 2;
  Heredoc doc;
  if (i < src.size() && src[i] == '-') doc.chomp = true, ++i;
  std::string_view rest = src.substr(i);
  if (rest.empty() || rest.find('<') != std::string_view::npos) return std::nullopt;
  if (digits.size() > 9) return std::nullopt;
  for (char c : digits) doc.fd = doc.fd * 10 + (c - '0');
  ShellLexerOptions opt{.escape = '\\', .skip_unset_env = true};
  absl::StatusOr<std::vector<std::string>> plain = ShellLexer(opt).ProcessWords(rest, nullptr);
  opt.raw_quotes = true;
  absl::StatusOr<std::vector<std::string>> quoted = ShellLexer(opt).ProcessWords(rest, nullptr);
  if (!plain.ok() || !quoted.ok() || plain->size() != quoted->size()) return std::nullopt;
  std::string a, b;
  for (size_t k = 0; k < plain->size(); ++k) {
    if (k) a += ' ', b += ' ';
    a += (*plain)[k];
    b += (*quoted)[k];
  }
  if (a.empty()) return std::nullopt;
  doc.name = a;
  doc.expand = a == b;
  return doc;
}

std::string ChompHeredocContent(std::string_view content) {
  std::string out;
  bool bol = true;
  for (char c : content) {
    if (bol && c == '\t') continue;
    bol = c == '\n';
    out.push_back(c);
  }
  return out;
}

}  // namespace kiln::engine
