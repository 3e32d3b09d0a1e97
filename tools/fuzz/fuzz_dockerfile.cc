// libFuzzer target: the Dockerfile parser, instruction conversion, lowering (with an image
// resolver that accepts every reference), AST dump, the shell lexer and the .dockerignore
// matcher. Any crash, sanitizer report or leak is a bug; errors are expected.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "engine/frontend/dockerignore.h"
#include "engine/frontend/lower.h"
#include "engine/frontend/parser.h"
#include "engine/frontend/shell_lexer.h"
#include "engine/graph/graph.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 64 * 1024) return 0;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  using namespace kiln::engine;

  if (absl::StatusOr<Ast> ast = ParseDockerfile(text, "Dockerfile"); ast.ok()) {
    (void)DumpAst(*ast);
  }
  AnyImageResolver resolver;
  LowerOptions opt;
  opt.resolver = &resolver;
  opt.build_args = {{"A", "x y"}, {"HTTP_PROXY", "p"}};
  opt.context_excludes = {"*.md", "!README.md"};
  if (absl::StatusOr<LoweredBuild> b = LowerDockerfileText(text, opt); b.ok()) {
    (void)graph::RenderText(b->graph);
    (void)graph::RenderDot(b->graph);
  }

  std::vector<std::string> env = {"A=1", "B=a b", "EMPTY="};
  (void)ShellLexer().ProcessWords(text, EnvFromList(&env));
  (void)ShellLexer(ShellLexerOptions{.escape = '`', .raw_quotes = true}).ProcessWord(text, EnvFromList(&env));

  if (absl::StatusOr<DockerignoreMatcher> m = DockerignoreMatcher::Create(ReadDockerignore(text));
      m.ok()) {
    (void)m->Excluded("a/b/c.md");
    (void)m->Excluded(text.substr(0, 256));
    (void)m->CanSkipDir("a/b");
  }
  return 0;
}
