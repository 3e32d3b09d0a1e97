#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "base/status.h"
#include "engine/frontend/parser_internal.h"
#include "engine/frontend/text.h"
#include "nlohmann/json.hpp"

namespace kiln::engine::internal {
namespace {

bool IsWsSplit(char c) { return c == '\t' || c == '\v' || c == '\f' || c == '\r' || c == ' '; }

// reWhitespace.Split(s, -1).
std::vector<std::string> SplitWs(std::string_view s) {
  size_t fields = 1;
  for (size_t i = 0; i < s.size(); ++i) {
    if (IsWsSplit(s[i]) && (i + 1 == s.size() || !IsWsSplit(s[i + 1]))) ++fields;
  }
  std::vector<std::string> out;
  out.reserve(fields);
  size_t start = 0, i = 0;
  while (i < s.size()) {
    if (IsWsSplit(s[i])) {
      size_t j = i;
      while (j < s.size() && IsWsSplit(s[j])) ++j;
      out.emplace_back(s.substr(start, i - start));
      start = i = j;
      continue;
    }
    ++i;
  }
  out.emplace_back(s.substr(start));
  return out;
}

// reWhitespace.Split(s, 2), as views into `s`: false when `s` has no whitespace.
bool SplitWsOnce(std::string_view s, std::string_view* first, std::string_view* rest) {
  size_t i = 0;
  while (i < s.size() && !IsWsSplit(s[i])) ++i;
  *first = s.substr(0, i);
  if (i == s.size()) return false;
  size_t j = i;
  while (j < s.size() && IsWsSplit(s[j])) ++j;
  *rest = s.substr(j);
  return true;
}

// extractBuilderFlags: leading "--x" words; returns the rest of the line.
std::string_view ExtractFlags(std::string_view line, std::vector<std::string>* flags) {
  size_t pos = 0;
  for (;;) {
    while (pos < line.size() && IsSpace(static_cast<unsigned char>(line[pos]))) ++pos;
    if (pos >= line.size()) return {};
    if (line.substr(pos, 2) != "--") return line.substr(pos);
    std::string word;
    bool blank_ok = false;
    char quote = 0;
    while (pos < line.size()) {
      char c = line[pos];
      if (quote) {
        ++pos;
        if (c == quote) {
          quote = 0;
          continue;
        }
        if (c == '\\') {
          if (pos >= line.size()) break;
          c = line[pos++];
        }
        word.push_back(c);
        continue;
      }
      if (IsSpace(static_cast<unsigned char>(c))) break;
      ++pos;
      if (c == '\'' || c == '"') {
        quote = c;
        blank_ok = true;
        continue;
      }
      if (c == '\\') {
        if (pos >= line.size()) continue;
        c = line[pos++];
      }
      word.push_back(c);
    }
    if (word == "--") return pos >= line.size() ? std::string_view() : line.substr(pos);
    if (blank_ok || !word.empty()) flags->push_back(std::move(word));
    if (pos >= line.size()) return {};
  }
}

absl::Status Invalid(std::string_view m) { return absl::InvalidArgumentError(base::AsAbsl(m)); }

absl::StatusOr<bool> MaybeJson(std::string_view rest, AstNode& n, bool to_list) {
  if (rest.empty()) return true;
  KILN_ASSIGN_OR_RETURN(std::optional<std::vector<std::string>> arr, ParseJsonArray(rest));
  if (arr) {
    n.json = true;
    n.args = std::move(*arr);
    return true;
  }
  if (to_list) {
    n.args = SplitWs(rest);
  } else {
    n.args.emplace_back(rest);
  }
  return true;
}

absl::Status NameVal(std::string_view rest, std::string_view key, char escape, AstNode& n) {
  std::vector<std::string> words = ParseWords(rest, escape);
  if (words.empty()) return absl::OkStatus();
  if (words[0].find('=') == std::string::npos) {
    std::string_view name, value;
    if (!SplitWsOnce(rest, &name, &value)) {
      return Invalid(absl::StrCat(base::AsAbsl(key), " must have two arguments: expected ",
                                  base::AsAbsl(key), " name=value or ", base::AsAbsl(key),
                                  " name value"));
    }
    n.args = {std::string(name), std::string(value), ""};
    return absl::OkStatus();
  }
  n.args.reserve(words.size() * 3);
  for (const std::string& w : words) {
    size_t eq = w.find('=');
    if (eq == std::string::npos) {
      return Invalid(absl::StrCat("syntax error - can't find = in ", GoQuote(w),
                                  ": expected name=value"));
    }
    n.args.push_back(w.substr(0, eq));
    n.args.push_back(w.substr(eq + 1));
    n.args.push_back("=");
  }
  return absl::OkStatus();
}

absl::Status Healthcheck(std::string_view rest, AstNode& n) {
  size_t sep = 0;
  while (sep < rest.size() && !IsSpace(static_cast<unsigned char>(rest[sep]))) ++sep;
  size_t next = sep;
  while (next < rest.size() && IsSpace(static_cast<unsigned char>(rest[next]))) ++next;
  if (sep == 0) return absl::OkStatus();
  AstNode cmd;
  KILN_ASSIGN_OR_RETURN(bool ok, MaybeJson(rest.substr(next), cmd, false));
  (void)ok;
  n.json = cmd.json;
  n.args.emplace_back(rest.substr(0, sep));
  for (std::string& a : cmd.args) n.args.push_back(std::move(a));
  return absl::OkStatus();
}

}  // namespace

std::vector<std::string> ParseWords(std::string_view rest, char escape_char) {
  const char32_t escape = static_cast<unsigned char>(escape_char);
  std::vector<std::string> words;
  std::string word;
  bool in_word = false, in_quote = false, blank_ok = false;
  char32_t quote = 0;
  size_t pos = 0;
  auto next = [&](size_t* w) { return DecodeRune(rest, pos, w); };
  while (pos < rest.size()) {
    size_t w = 0;
    char32_t ch = next(&w);
    if (!in_word && !in_quote) {
      if (IsSpace(ch)) {
        pos += w;
        continue;
      }
      in_word = true;
    }
    if (in_word) {
      if (IsSpace(ch)) {
        in_word = false;
        if (blank_ok || !word.empty()) words.push_back(std::move(word));
        word.clear();
        blank_ok = false;
        pos += w;
        continue;
      }
      if (ch == '\'' || ch == '"') {
        quote = ch, blank_ok = true, in_quote = true, in_word = false;
      }
      if (ch == escape) {
        if (pos + w == rest.size()) {
          pos += w;
          continue;
        }
        AppendRune(word, ch);
        pos += w;
        ch = next(&w);
      }
      AppendRune(word, ch);
      pos += w;
      continue;
    }
    // in quote
    if (ch == quote) in_quote = false, in_word = true;
    if (ch == escape && quote != '\'') {
      if (pos + w == rest.size()) {
        in_quote = false, in_word = true;
        pos += w;
        continue;
      }
      pos += w;
      AppendRune(word, ch);
      ch = next(&w);
    }
    AppendRune(word, ch);
    pos += w;
  }
  if ((in_word || in_quote) && (blank_ok || !word.empty())) words.push_back(std::move(word));
  return words;
}

namespace {

bool IsJsonSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// The common exec form, `["a", "b"]` with printable ASCII strings and no escapes, parsed
// without building a json value. nullopt for anything else (nlohmann then decides).
std::optional<std::vector<std::string>> SimpleJsonArray(std::string_view s) {
  size_t i = 1;  // after '['
  auto skip = [&] {
    while (i < s.size() && IsJsonSpace(s[i])) ++i;
  };
  std::vector<std::string> out;
  skip();
  if (i < s.size() && s[i] == ']') {
    ++i;
  } else {
    for (;;) {
      if (i >= s.size() || s[i] != '"') return std::nullopt;
      size_t start = ++i;
      while (i < s.size() && s[i] != '"') {
        if (s[i] < 0x20 || s[i] > 0x7E || s[i] == '\\') return std::nullopt;
        ++i;
      }
      if (i >= s.size()) return std::nullopt;
      out.emplace_back(s.substr(start, i - start));
      ++i;
      skip();
      if (i < s.size() && s[i] == ',') {
        ++i;
        skip();
        continue;
      }
      if (i < s.size() && s[i] == ']') {
        ++i;
        break;
      }
      return std::nullopt;
    }
  }
  skip();
  if (i != s.size()) return std::nullopt;
  return out;
}

}  // namespace

absl::StatusOr<std::optional<std::vector<std::string>>> ParseJsonArray(std::string_view rest) {
  rest = TrimLeftSpace(rest);
  if (rest.empty() || rest[0] != '[') return std::optional<std::vector<std::string>>();
  if (std::optional<std::vector<std::string>> simple = SimpleJsonArray(rest)) return simple;
  nlohmann::json j = nlohmann::json::parse(rest.begin(), rest.end(), nullptr, false);
  if (j.is_discarded() || !j.is_array()) return std::optional<std::vector<std::string>>();
  std::vector<std::string> out;
  for (const auto& e : j) {
    if (!e.is_string()) {
      return Invalid("JSON array elements must be strings: expected [\"a\", \"b\"]");
    }
    out.push_back(e.get<std::string>());
  }
  return std::optional<std::vector<std::string>>(std::move(out));
}

absl::StatusOr<AstNode> NodeFromLine(std::string_view line, char escape) {
  AstNode n;
  n.original = std::string(line);
  std::string_view keyword, after;
  std::string_view rest;
  if (SplitWsOnce(TrimSpace(line), &keyword, &after)) {
    rest = TrimSpace(ExtractFlags(after, &n.flags));
  }
  n.keyword = absl::AsciiStrToLower(base::AsAbsl(keyword));
  const std::string_view k = n.keyword;
  if (k == "add" || k == "copy" || k == "volume") {
    KILN_ASSIGN_OR_RETURN(bool ok, MaybeJson(rest, n, true));
    (void)ok;
  } else if (k == "cmd" || k == "entrypoint" || k == "run" || k == "shell") {
    KILN_ASSIGN_OR_RETURN(bool ok, MaybeJson(rest, n, false));
    (void)ok;
  } else if (k == "arg") {
    n.args = ParseWords(rest, escape);
  } else if (k == "env" || k == "label") {
    KILN_RETURN_IF_ERROR(NameVal(rest, k == "env" ? "ENV" : "LABEL", escape, n));
  } else if (k == "expose" || k == "from") {
    if (!rest.empty()) n.args = SplitWs(rest);
  } else if (k == "healthcheck") {
    KILN_RETURN_IF_ERROR(Healthcheck(rest, n));
  } else if (k == "maintainer") {
    if (!rest.empty()) n.args = {"maintainer", std::string(rest), ""};
  } else if (k == "stopsignal" || k == "user" || k == "workdir") {
    if (!rest.empty()) n.args.emplace_back(rest);
  } else if (k == "onbuild") {
    if (!rest.empty()) {
      KILN_ASSIGN_OR_RETURN(AstNode sub, NodeFromLine(rest, escape));
      n.nested.push_back(std::move(sub));
    }
  }
  return n;
}

}  // namespace kiln::engine::internal
