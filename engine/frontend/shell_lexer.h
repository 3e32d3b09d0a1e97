// ShellLexer: the Dockerfile word expander, matching BuildKit's shell lexer
// (frontend/dockerfile/shell). It performs quote removal, escapes, and parameter expansion:
// $V ${V} ${V:-w} ${V-w} ${V:+w} ${V+w} ${V:?msg} ${V?msg} ${V#p} ${V##p} ${V%p} ${V%%p}
// ${V/p/r} ${V//p/r}. Special parameters ($1, $@, ${#} ...) expand to "". Unsupported forms
// (${V:=w}, ${V:1}, ${#V}) are errors, as in BuildKit.
//
// A ShellLexer is a value; its methods are const and thread-safe.
#ifndef KILN_ENGINE_FRONTEND_SHELL_LEXER_H_
#define KILN_ENGINE_FRONTEND_SHELL_LEXER_H_

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace kiln::engine {

// Looks a variable up; nullopt when unset.
using EnvGetter = std::function<std::optional<std::string>(std::string_view name)>;

// An EnvGetter over a "K=V" list (last definition wins; "K" alone counts as set and empty).
EnvGetter EnvFromList(const std::vector<std::string>* env);

struct ShellLexerOptions {
  char escape = '\\';             // '\\' or '`' (the Dockerfile escape directive)
  bool raw_quotes = false;         // keep quote characters in the output
  bool raw_escapes = false;        // keep escape characters in the output
  bool skip_unset_env = false;     // leave references to unset variables as written
  bool skip_process_quotes = false;  // quotes are literal (heredoc bodies)
};

class ShellLexer {
 public:
  explicit ShellLexer(ShellLexerOptions options = {}) : options_(options) {}

  // Expands `word` as one word (no field splitting). InvalidArgument with the cause
  // (e.g. "unexpected end of statement while looking for matching double-quote").
  absl::StatusOr<std::string> ProcessWord(std::string_view word, const EnvGetter& env) const;

  // Expands `word` and splits unquoted whitespace (including whitespace produced by
  // unquoted expansions) into fields.
  absl::StatusOr<std::vector<std::string>> ProcessWords(std::string_view word,
                                                        const EnvGetter& env) const;

  // Names of the variables a word references (set or not); used to find the ARGs a
  // command uses. Best effort: returns what it saw before any error.
  std::vector<std::string> ReferencedNames(std::string_view word) const;

 private:
  ShellLexerOptions options_;
};

// Shell glob match of a whole string (`*`, `?`, `[...]`, `[!...]`, backslash escapes).
bool ShellPatternMatch(std::string_view pattern, std::string_view text);

}  // namespace kiln::engine

#endif  // KILN_ENGINE_FRONTEND_SHELL_LEXER_H_
