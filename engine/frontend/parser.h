// The raw Dockerfile parser: parser directives, comments, line continuations, heredocs and
// per-instruction argument splitting, exactly as BuildKit's frontend/dockerfile/parser
// (no variable expansion, no quote removal). Its Dump() output is byte-compatible with
// BuildKit's AST dump, which the conformance suite checks.
//
// Parsing is a pure function of its input; thread-safe. No input crashes it: every error is
// InvalidArgument "<file>:<line>: <what was wrong>".
#ifndef KILN_ENGINE_FRONTEND_PARSER_H_
#define KILN_ENGINE_FRONTEND_PARSER_H_

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace kiln::engine {

struct Heredoc {
  std::string name;     // the delimiter after quote removal ("EOF")
  std::string content;  // lines between the instruction and the delimiter, each with '\n'
  bool expand = true;   // false when the delimiter was quoted: no variable expansion
  bool chomp = false;   // <<- : leading tabs are stripped from content lines
  int fd = 0;           // 3<<EOF (0 when not given)
};

// One instruction line (continuations joined).
struct AstNode {
  std::string keyword;                // lower-case ("from", "run", ...)
  std::string original;               // the logical line as written, continuations joined
  std::vector<std::string> flags;     // "--name=value" as written (quotes removed)
  std::vector<std::string> args;      // split per BuildKit's rules for the keyword
  std::vector<AstNode> nested;        // ONBUILD: the triggered instruction (0 or 1)
  bool json = false;                  // exec (JSON array) form
  int start_line = 0;                 // 1-based, first physical line
  int end_line = 0;                   // last physical line (including heredoc bodies)
  std::vector<Heredoc> heredocs;      // RUN/COPY/ADD (and ONBUILD of them)
  std::vector<std::string> comments;  // comment lines directly above, text after '#' trimmed
};

struct Directives {
  std::string syntax;
  std::string check;
  char escape = '\\';
};

struct Ast {
  Directives directives;
  std::vector<AstNode> nodes;
  std::vector<int> empty_continuations;  // last line of each instruction with an empty
                                         // continuation line (NoEmptyContinuation)
};

// Parses `content`. `filename` is used in error messages (e.g. "Dockerfile").
// InvalidArgument when the file has no instructions, a directive is invalid or repeated,
// JSON arrays hold non-strings, ENV/LABEL lack values, or a heredoc is unterminated.
absl::StatusOr<Ast> ParseDockerfile(std::string_view content, std::string_view filename);

// BuildKit-compatible S-expression dump: one "(keyword [flags] "arg"...)" line per node.
std::string DumpAst(const Ast& ast);
std::string DumpNode(const AstNode& node);

// Parses a heredoc word such as "<<EOF", "<<-'EOF'" or "3<<EOF"; nullopt when `word` is
// not a heredoc. Content is left empty.
std::optional<Heredoc> ParseHeredocWord(std::string_view word);

// Removes leading tabs from each line (the <<- form).
std::string ChompHeredocContent(std::string_view content);

}  // namespace kiln::engine

#endif  // KILN_ENGINE_FRONTEND_PARSER_H_
