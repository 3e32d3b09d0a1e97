// .dockerignore: reading the file and matching context paths, with the semantics of
// Docker's patternmatcher (moby/patternmatcher): `*` and `?` never cross '/', `**` spans any
// number of directories, `[...]` classes, `\` escapes, `!` exceptions (the last matching
// pattern wins), a leading '/' is ignored, paths and patterns are cleaned, and a pattern
// that matches a directory also matches everything below it.
//
// The solver uses one matcher both to filter what the build sees and to choose which files
// feed cache keys. A DockerignoreMatcher is immutable after Create; its methods are const
// and thread-safe.
#ifndef KILN_ENGINE_FRONTEND_DOCKERIGNORE_H_
#define KILN_ENGINE_FRONTEND_DOCKERIGNORE_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace kiln::engine {

// Parses .dockerignore text into patterns: strips a UTF-8 BOM, skips lines starting with
// '#' and blank lines, trims whitespace, cleans each pattern and drops a leading '/'
// (keeping a leading '!').
std::vector<std::string> ReadDockerignore(std::string_view content);

class DockerignoreMatcher {
 public:
  // InvalidArgument for a lone "!" or a malformed pattern (e.g. an unclosed '[').
  static absl::StatusOr<DockerignoreMatcher> Create(const std::vector<std::string>& patterns);

  // True when `path` (relative to the context root, '/'-separated; cleaned here) is
  // excluded: the last pattern matching it or one of its parent directories is not an
  // exception.
  bool Excluded(std::string_view path) const;

  // True when directory `dir` is excluded and no exception pattern could re-include
  // anything at or below it, so a walker may skip the whole subtree.
  bool CanSkipDir(std::string_view dir) const;

  bool empty() const { return patterns_.empty(); }
  bool has_exceptions() const { return has_exceptions_; }

  struct Element;
  struct Pattern {
    std::string cleaned;             // without '!'
    bool exclusion = false;          // '!' pattern
    int match_type = 0;              // exact, prefix, suffix, regexp (internal)
    std::vector<Element> elements;   // compiled form (regexp type)
    std::vector<std::string> dirs;   // cleaned split on '/'
  };

 private:
  bool Match(const Pattern& p, std::string_view path) const;
  std::vector<Pattern> patterns_;
  bool has_exceptions_ = false;
};

struct DockerignoreMatcher::Element {
  enum Kind { kLiteral, kStar, kQuestion, kClass, kDoubleStarSlash, kAnything } kind;
  char literal = 0;
  std::string set;       // kClass: members, ranges as "a-z" triples
  bool negated = false;  // kClass with '^'
};

}  // namespace kiln::engine

#endif  // KILN_ENGINE_FRONTEND_DOCKERIGNORE_H_
