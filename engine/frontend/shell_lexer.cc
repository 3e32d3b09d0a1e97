#include "engine/frontend/shell_lexer.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "base/status.h"
#include "engine/frontend/text.h"

namespace kiln::engine {
namespace {

using internal::AppendRune;
using internal::DecodeRune;
using internal::IsSpace;

constexpr char32_t kEof = 0xFFFFFFFF;

class RuneScanner {
 public:
  explicit RuneScanner(std::string_view s) : s_(s) {}
  char32_t Peek() const {
    if (pos_ >= s_.size()) return kEof;
    size_t w = 0;
    return DecodeRune(s_, pos_, &w);
  }
  char32_t Next() {
    if (pos_ >= s_.size()) return kEof;
    size_t w = 0;
    char32_t r = DecodeRune(s_, pos_, &w);
    pos_ += w;
    return r;
  }
  // Consumes the bytes before the next '$', escape, `stop` or (when `quotes`) quote. Every
  // special character is ASCII and decoding then re-encoding a rune gives back its bytes, so
  // copying the run as bytes equals expanding it rune by rune.
  std::string_view TakeLiteral(char escape, char32_t stop, bool quotes) {
    size_t start = pos_;
    while (pos_ < s_.size()) {
      char c = s_[pos_];
      if (c == '$' || c == escape || (quotes && (c == '\'' || c == '"')) ||
          (stop < 0x80 && c == static_cast<char>(stop))) {
        break;
      }
      ++pos_;
    }
    return s_.substr(start, pos_ - start);
  }

 private:
  std::string_view s_;
  size_t pos_ = 0;
};

// Accumulates fields for ProcessWords.
struct Words {
  std::string word;
  std::vector<std::string> words;
  bool in_word = false;

  void AddChar(char32_t r) {
    if (IsSpace(r)) {
      if (in_word && !word.empty()) {
        words.push_back(std::move(word));
        word.clear();
        in_word = false;
      }
    } else {
      AddRawChar(r);
    }
  }
  void AddRawChar(char32_t r) {
    AppendRune(word, r);
    in_word = true;
  }
  void AddString(std::string_view s) {
    for (size_t i = 0; i < s.size();) {
      size_t w = 0;
      char32_t r = DecodeRune(s, i, &w);
      AddChar(r);
      i += w;
    }
  }
  void AddRawString(std::string_view s) {
    word.append(s);
    in_word = true;
  }
  std::vector<std::string> Take() {
    if (!word.empty()) words.push_back(std::move(word));
    word.clear();
    in_word = false;
    return std::move(words);
  }
};

struct ExpandedWord {
  std::string word;
  std::vector<std::string> words;
};

absl::Status Err(std::string_view msg) { return absl::InvalidArgumentError(base::AsAbsl(msg)); }

bool IsSpecialParam(char32_t r) {
  switch (r) {
    case '@': case '*': case '#': case '?': case '-': case '$': case '!': case '0':
      return true;
    default:
      return false;
  }
}

class ShellWord {
 public:
  ShellWord(std::string_view src, const ShellLexerOptions& opt, const EnvGetter& env)
      : sc_(src), opt_(opt), env_(env) {}

  // `split`: also split into fields (ProcessWords); otherwise only ExpandedWord::word is built.
  absl::StatusOr<ExpandedWord> ProcessStopOn(char32_t stop, bool raw_escapes, bool split = false);

 private:
  absl::StatusOr<std::string> SingleQuote();
  absl::StatusOr<std::string> DoubleQuote();
  absl::StatusOr<std::string> Dollar();
  absl::StatusOr<std::string> DollarModifier(const std::string& name, char32_t ch);
  absl::StatusOr<std::string> DollarReplace(const std::string& name);
  std::string Name();
  std::optional<std::string> Get(const std::string& name) const {
    return env_ ? env_(name) : std::nullopt;
  }

  RuneScanner sc_;
  const ShellLexerOptions& opt_;
  const EnvGetter& env_;
};

absl::StatusOr<ExpandedWord> ShellWord::ProcessStopOn(char32_t stop, bool raw_escapes,
                                                      bool split) {
  std::string result;
  Words words;
  const char32_t esc = static_cast<unsigned char>(opt_.escape);
  while (sc_.Peek() != kEof) {
    if (!split) {
      result.append(sc_.TakeLiteral(opt_.escape, stop, !opt_.skip_process_quotes));
      if (sc_.Peek() == kEof) break;
    }
    char32_t ch = sc_.Peek();
    if (stop != kEof && ch == stop) {
      sc_.Next();
      return ExpandedWord{std::move(result), words.Take()};
    }
    bool quote = !opt_.skip_process_quotes && (ch == '\'' || ch == '"');
    if (quote || ch == '$') {
      absl::StatusOr<std::string> tmp =
          ch == '$' ? Dollar() : (ch == '\'' ? SingleQuote() : DoubleQuote());
      if (!tmp.ok()) return tmp.status();
      result += *tmp;
      if (!split) continue;
      if (ch == '$') {
        words.AddString(*tmp);
      } else {
        words.AddRawString(*tmp);
      }
      continue;
    }
    ch = sc_.Next();
    if (ch == esc) {
      if (raw_escapes) {
        if (split) words.AddRawChar(ch);
        AppendRune(result, ch);
      }
      ch = sc_.Next();
      if (ch == kEof) break;
      if (split) words.AddRawChar(ch);
    } else if (split) {
      words.AddChar(ch);
    }
    AppendRune(result, ch);
  }
  if (stop != kEof) {
    std::string s;
    AppendRune(s, stop);
    return Err(absl::StrCat("unexpected end of statement while looking for matching ", s));
  }
  return ExpandedWord{std::move(result), words.Take()};
}

absl::StatusOr<std::string> ShellWord::SingleQuote() {
  std::string result;
  char32_t ch = sc_.Next();
  if (opt_.raw_quotes) AppendRune(result, ch);
  for (;;) {
    ch = sc_.Next();
    if (ch == kEof) {
      return Err("unexpected end of statement while looking for matching single-quote");
    }
    if (ch == '\'') {
      if (opt_.raw_quotes) AppendRune(result, ch);
      return result;
    }
    AppendRune(result, ch);
  }
}

absl::StatusOr<std::string> ShellWord::DoubleQuote() {
  std::string result;
  char32_t ch = sc_.Next();
  if (opt_.raw_quotes) AppendRune(result, ch);
  const char32_t esc = static_cast<unsigned char>(opt_.escape);
  for (;;) {
    char32_t p = sc_.Peek();
    if (p == kEof) {
      return Err("unexpected end of statement while looking for matching double-quote");
    }
    if (p == '"') {
      ch = sc_.Next();
      if (opt_.raw_quotes) AppendRune(result, ch);
      return result;
    }
    if (p == '$') {
      KILN_ASSIGN_OR_RETURN(std::string value, Dollar());
      result += value;
      continue;
    }
    ch = sc_.Next();
    if (ch == esc) {
      if (opt_.raw_escapes) AppendRune(result, ch);
      char32_t n = sc_.Peek();
      if (n == kEof) continue;
      if (n == '"' || n == '$' || n == esc) ch = sc_.Next();
    }
    AppendRune(result, ch);
  }
}

std::string ShellWord::Name() {
  std::string name;
  while (sc_.Peek() != kEof) {
    char32_t ch = sc_.Peek();
    if (name.empty() && internal::IsDigit(ch)) {
      while (sc_.Peek() != kEof && internal::IsDigit(sc_.Peek())) AppendRune(name, sc_.Next());
      return name;
    }
    if (name.empty() && IsSpecialParam(ch)) {
      AppendRune(name, sc_.Next());
      return name;
    }
    if (!internal::IsLetter(ch) && !internal::IsDigit(ch) && ch != '_') break;
    AppendRune(name, sc_.Next());
  }
  return name;
}

absl::StatusOr<std::string> ShellWord::Dollar() {
  sc_.Next();
  if (sc_.Peek() != '{') {
    std::string name = Name();
    if (name.empty()) return std::string("$");
    std::optional<std::string> v = Get(name);
    if (!v && opt_.skip_unset_env) return "$" + name;
    return v.value_or("");
  }
  sc_.Next();
  char32_t p = sc_.Peek();
  if (p == kEof) return Err("syntax error: missing '}'");
  if (p == '{' || p == '}' || p == ':') return Err("syntax error: bad substitution");
  std::string name = Name();
  char32_t ch = sc_.Next();
  if (ch == '}') {
    std::optional<std::string> v = Get(name);
    if (!v && opt_.skip_unset_env) return absl::StrCat("${", name, "}");
    return v.value_or("");
  }
  if (ch == '/') return DollarReplace(name);
  return DollarModifier(name, ch);
}

absl::StatusOr<std::string> TrimPattern(std::string_view pattern, const std::string& value,
                                        bool greedy, bool suffix) {
  size_t n = value.size();
  for (size_t k = 0; k <= n; ++k) {
    size_t len = greedy ? n - k : k;
    std::string_view part = suffix ? std::string_view(value).substr(n - len)
                                   : std::string_view(value).substr(0, len);
    if (ShellPatternMatch(pattern, part)) {
      return suffix ? value.substr(0, n - len) : value.substr(len);
    }
  }
  return value;
}

absl::StatusOr<std::string> ShellWord::DollarModifier(const std::string& name, char32_t ch) {
  std::string chs;
  if (ch != kEof) AppendRune(chs, ch);
  bool null_is_unset = false;
  if (ch == ':') {
    null_is_unset = true;
    ch = sc_.Next();
    if (ch != kEof) AppendRune(chs, ch);
  }
  if (ch != '+' && ch != '-' && ch != '?' && ch != '#' && ch != '%') {
    return Err(absl::StrCat("unsupported modifier (", chs, ") in substitution"));
  }
  bool raw = ch == '#' || ch == '%';
  if (null_is_unset && raw) {
    return Err(absl::StrCat("unsupported modifier (", chs, ") in substitution"));
  }
  absl::StatusOr<ExpandedWord> w = ProcessStopOn('}', raw);
  if (!w.ok()) {
    if (sc_.Peek() == kEof) return Err("syntax error: missing '}'");
    return w.status();
  }
  std::string word = std::move(w->word);
  std::optional<std::string> v = Get(name);
  if (opt_.skip_unset_env && !v) return absl::StrCat("${", name, chs, word, "}");
  bool empty = !v || (null_is_unset && v->empty());
  switch (ch) {
    case '-':
      return empty ? word : *v;
    case '+':
      return empty ? std::string() : word;
    case '?':
      if (!v) return Err(name + ": " + (word.empty() ? "is not allowed to be unset" : word));
      if (empty) return Err(name + ": " + (word.empty() ? "is not allowed to be empty" : word));
      return *v;
    default: {
      bool greedy = !word.empty() && word[0] == static_cast<char>(ch);
      std::string_view pat = greedy ? std::string_view(word).substr(1) : std::string_view(word);
      return TrimPattern(pat, v.value_or(""), greedy, ch == '%');
    }
  }
}

absl::StatusOr<std::string> ShellWord::DollarReplace(const std::string& name) {
  bool all = sc_.Peek() == '/';
  if (all) sc_.Next();
  absl::StatusOr<ExpandedWord> pat = ProcessStopOn('/', true);
  if (!pat.ok()) {
    if (sc_.Peek() == kEof) return Err("syntax error: missing '/' in ${}");
    return pat.status();
  }
  absl::StatusOr<ExpandedWord> rep = ProcessStopOn('}', true);
  if (!rep.ok()) {
    if (sc_.Peek() == kEof) return Err("syntax error: missing '}'");
    return rep.status();
  }
  std::optional<std::string> v = Get(name);
  if (opt_.skip_unset_env && !v) {
    return absl::StrCat("${", name, "/", pat->word, "/", rep->word, "}");
  }
  std::string value = v.value_or("");
  std::string out;
  size_t i = 0;
  bool done = false;
  while (i <= value.size()) {
    size_t match_end = std::string::npos;
    if (!done) {
      for (size_t end = value.size() + 1; end-- > i;) {
        if (ShellPatternMatch(pat->word, std::string_view(value).substr(i, end - i))) {
          match_end = end;
          break;
        }
      }
    }
    if (match_end != std::string::npos) {
      out += rep->word;
      done = !all;
      if (match_end > i) {
        i = match_end;
        continue;
      }
    }
    if (i < value.size()) out.push_back(value[i]);
    ++i;
  }
  return out;
}

// Matches a bracket expression starting after '['; sets *len to the bytes consumed including
// the closing ']'. Returns nullopt when the bracket is not closed (then '[' is literal).
std::optional<bool> MatchClass(std::string_view p, char c, size_t* len) {
  size_t i = 0;
  bool negate = false;
  if (i < p.size() && (p[i] == '!' || p[i] == '^')) negate = true, ++i;
  bool matched = false;
  bool first = true;
  while (i < p.size() && (first || p[i] != ']')) {
    first = false;
    char lo = p[i];
    if (lo == '\\' && i + 1 < p.size()) lo = p[++i];
    ++i;
    char hi = lo;
    if (i + 1 < p.size() && p[i] == '-' && p[i + 1] != ']') {
      hi = p[i + 1];
      if (hi == '\\' && i + 2 < p.size()) hi = p[++i + 1];
      i += 2;
    }
    if (c >= lo && c <= hi) matched = true;
  }
  if (i >= p.size()) return std::nullopt;
  *len = i + 1;
  return matched != negate;
}

}  // namespace

bool ShellPatternMatch(std::string_view p, std::string_view t) {
  // Iterative glob matcher with single-star backtracking.
  size_t pi = 0, ti = 0, star_p = std::string_view::npos, star_t = 0;
  while (ti < t.size()) {
    if (pi < p.size()) {
      char pc = p[pi];
      if (pc == '*') {
        star_p = ++pi;
        star_t = ti;
        continue;
      }
      if (pc == '?') {
        ++pi, ++ti;
        continue;
      }
      if (pc == '[') {
        size_t len = 0;
        std::optional<bool> m = MatchClass(p.substr(pi + 1), t[ti], &len);
        if (m.has_value()) {
          if (*m) {
            pi += 1 + len, ++ti;
            continue;
          }
        } else if (t[ti] == '[') {
          ++pi, ++ti;
          continue;
        }
      } else {
        size_t adv = 1;
        if (pc == '\\' && pi + 1 < p.size()) pc = p[pi + 1], adv = 2;
        if (pc == t[ti]) {
          pi += adv, ++ti;
          continue;
        }
      }
    }
    if (star_p == std::string_view::npos) return false;
    pi = star_p;
    ti = ++star_t;
  }
  while (pi < p.size() && p[pi] == '*') ++pi;
  return pi == p.size();
}

EnvGetter EnvFromList(const std::vector<std::string>* env) {
  return [env](std::string_view name) -> std::optional<std::string> {
    for (auto it = env->rbegin(); it != env->rend(); ++it) {
      std::string_view kv = *it;
      size_t eq = kv.find('=');
      if (kv.substr(0, eq) == name) {
        return eq == std::string_view::npos ? std::string() : std::string(kv.substr(eq + 1));
      }
    }
    return std::nullopt;
  };
}

absl::StatusOr<std::string> ShellLexer::ProcessWord(std::string_view word,
                                                    const EnvGetter& env) const {
  // Fast path: without '$', quotes or the escape character every byte is literal.
  if (word.find_first_of(options_.escape == '`' ? std::string_view("$'\"`")
                                                : std::string_view("$'\"\\")) ==
      std::string_view::npos) {
    return std::string(word);
  }
  ShellWord sw(word, options_, env);
  absl::StatusOr<ExpandedWord> r = sw.ProcessStopOn(kEof, options_.raw_escapes);
  if (!r.ok()) return r.status();
  return std::move(r->word);
}

absl::StatusOr<std::vector<std::string>> ShellLexer::ProcessWords(std::string_view word,
                                                                  const EnvGetter& env) const {
  ShellWord sw(word, options_, env);
  absl::StatusOr<ExpandedWord> r = sw.ProcessStopOn(kEof, options_.raw_escapes, /*split=*/true);
  if (!r.ok()) return r.status();
  return std::move(r->words);
}

std::vector<std::string> ShellLexer::ReferencedNames(std::string_view word) const {
  std::vector<std::string> names;
  EnvGetter rec = [&names](std::string_view name) -> std::optional<std::string> {
    names.emplace_back(name);
    return std::nullopt;
  };
  ShellWord sw(word, options_, rec);
  (void)sw.ProcessStopOn(kEof, options_.raw_escapes);
  return names;
}

}  // namespace kiln::engine
