#include "engine/frontend/dockerignore.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "base/status.h"
#include "engine/frontend/lower_internal.h"
#include "engine/frontend/shell_lexer.h"
#include "engine/frontend/text.h"

namespace kiln::engine {
namespace {

using Element = DockerignoreMatcher::Element;

bool MatchStep(const std::vector<Element>& el, size_t i, std::string_view text, size_t t,
               std::vector<bool>& failed);
enum MatchType { kExact, kPrefix, kSuffix, kRegexp };

bool ClassHas(const Element& e, char c) {
  bool in = false;
  const std::string& s = e.set;
  for (size_t i = 0; i < s.size(); ++i) {
    if (i + 2 < s.size() && s[i + 1] == '-') {
      if (c >= s[i] && c <= s[i + 2]) in = true;
      i += 2;
    } else if (s[i] == c) {
      in = true;
    }
  }
  return in != e.negated;
}

// Backtracking match of elements[i..] against text[t..] (anchored both ends). `failed`
// memoizes (i, t) pairs known not to match, which bounds the work to O(elements * text).
bool MatchFrom(const std::vector<Element>& el, size_t i, std::string_view text, size_t t,
               std::vector<bool>& failed) {
  const size_t key = i * (text.size() + 1) + t;
  if (failed[key]) return false;
  bool ok = MatchStep(el, i, text, t, failed);
  if (!ok) failed[key] = true;
  return ok;
}

bool MatchStep(const std::vector<Element>& el, size_t i, std::string_view text, size_t t,
               std::vector<bool>& failed) {
  while (i < el.size()) {
    const Element& e = el[i];
    switch (e.kind) {
      case Element::kLiteral:
        if (t >= text.size() || text[t] != e.literal) return false;
        ++i, ++t;
        continue;
      case Element::kQuestion:
        if (t >= text.size() || text[t] == '/') return false;
        ++i, ++t;
        continue;
      case Element::kClass:
        if (t >= text.size() || !ClassHas(e, text[t])) return false;
        ++i, ++t;
        continue;
      case Element::kStar:
        for (size_t k = t;; ++k) {
          if (MatchFrom(el, i + 1, text, k, failed)) return true;
          if (k >= text.size() || text[k] == '/') return false;
        }
      case Element::kAnything:
        for (size_t k = t; k <= text.size(); ++k) {
          if (MatchFrom(el, i + 1, text, k, failed)) return true;
        }
        return false;
      case Element::kDoubleStarSlash:  // (.*/)?
        if (MatchFrom(el, i + 1, text, t, failed)) return true;
        for (size_t k = t; k < text.size(); ++k) {
          if (text[k] == '/' && MatchFrom(el, i + 1, text, k + 1, failed)) return true;
        }
        return false;
    }
  }
  return t == text.size();
}

absl::Status Compile(DockerignoreMatcher::Pattern& p) {
  const std::string& s = p.cleaned;
  int type = kExact;
  std::vector<Element> el;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '*') {
      if (i + 1 < s.size() && s[i + 1] == '*') {
        ++i;
        if (i + 1 < s.size() && s[i + 1] == '/') ++i;
        if (i + 1 >= s.size()) {
          if (type == kExact) {
            type = kPrefix;
          } else {
            el.push_back({Element::kAnything});
            type = kRegexp;
          }
        } else {
          el.push_back({Element::kDoubleStarSlash});
          type = kRegexp;
        }
        if (i <= 2 && s.compare(0, 2, "**") == 0 && el.size() <= 1) type = kSuffix;
      } else {
        el.push_back({Element::kStar});
        type = kRegexp;
      }
    } else if (c == '?') {
      el.push_back({Element::kQuestion});
      type = kRegexp;
    } else if (c == '\\') {
      el.push_back({Element::kLiteral, i + 1 < s.size() ? s[++i] : '\\'});
      if (i < s.size()) type = kRegexp;
    } else if (c == '[') {
      size_t close = s.find(']', i + 1);
      if (close == std::string::npos) {
        return absl::InvalidArgumentError(absl::StrCat(
            "dockerignore pattern '", s, "': unclosed '[': expected [chars]"));
      }
      Element e{Element::kClass};
      size_t j = i + 1;
      if (j < close && s[j] == '^') e.negated = true, ++j;
      for (; j < close; ++j) {
        if (s[j] == '\\' && j + 1 < close) ++j;
        e.set.push_back(s[j]);
      }
      el.push_back(std::move(e));
      i = close;
      type = kRegexp;
    } else {
      el.push_back({Element::kLiteral, c});
    }
  }
  p.match_type = type;
  if (type == kSuffix) {
    // "**" + literals only: keep elements for the regexp fallback anyway.
  }
  p.elements = std::move(el);
  return absl::OkStatus();
}

std::string CleanRel(std::string_view p) {
  std::string c = internal::CleanPath(p);
  while (!c.empty() && c[0] == '/') c.erase(0, 1);
  return c.empty() ? "." : c;
}

}  // namespace

std::vector<std::string> ReadDockerignore(std::string_view content) {
  std::vector<std::string> out;
  bool first = true;
  for (absl::string_view aline : absl::StrSplit(base::AsAbsl(content), '\n')) {
    std::string_view line(aline.data(), aline.size());
    if (first && line.substr(0, 3) == "\xEF\xBB\xBF") line.remove_prefix(3);
    first = false;
    if (!line.empty() && line[0] == '#') continue;
    line = internal::TrimSpace(line);
    if (line.empty()) continue;
    bool invert = line[0] == '!';
    if (invert) line = internal::TrimSpace(line.substr(1));
    std::string p(line);
    if (!p.empty()) {
      p = internal::CleanPath(p);
      if (p.size() > 1 && p[0] == '/') p.erase(0, 1);
    }
    out.push_back(invert ? "!" + p : p);
  }
  return out;
}

absl::StatusOr<DockerignoreMatcher> DockerignoreMatcher::Create(
    const std::vector<std::string>& patterns) {
  DockerignoreMatcher m;
  for (const std::string& raw : patterns) {
    std::string_view t = internal::TrimSpace(raw);
    if (t.empty()) continue;
    Pattern p;
    if (t[0] == '!') {
      if (t.size() == 1) {
        return absl::InvalidArgumentError("dockerignore: illegal exclusion pattern \"!\": expected !<pattern>");
      }
      p.exclusion = true;
      m.has_exceptions_ = true;
      t.remove_prefix(1);
    }
    p.cleaned = internal::CleanPath(t);
    if (p.cleaned.size() > 1 && p.cleaned[0] == '/') p.cleaned.erase(0, 1);
    KILN_RETURN_IF_ERROR(Compile(p));
    p.dirs = absl::StrSplit(p.cleaned, '/');
    m.patterns_.push_back(std::move(p));
  }
  return m;
}

bool DockerignoreMatcher::Match(const Pattern& p, std::string_view path) const {
  switch (p.match_type) {
    case kExact:
      return path == p.cleaned;
    case kPrefix:
      return path.starts_with(std::string_view(p.cleaned).substr(0, p.cleaned.size() - 2));
    case kSuffix: {
      std::string_view suffix = std::string_view(p.cleaned).substr(2);
      if (path.ends_with(suffix)) return true;
      return !suffix.empty() && suffix[0] == '/' && path == suffix.substr(1);
    }
    default: {
      std::vector<bool> failed((p.elements.size() + 1) * (path.size() + 1), false);
      return MatchFrom(p.elements, 0, path, 0, failed);
    }
  }
}

bool DockerignoreMatcher::Excluded(std::string_view raw) const {
  std::string file = CleanRel(raw);
  size_t slash = file.rfind('/');
  std::string parent = slash == std::string::npos ? "." : file.substr(0, slash);
  bool matched = false;
  for (const Pattern& p : patterns_) {
    if (p.exclusion != matched) continue;
    bool m = Match(p, file);
    if (!m && parent != ".") {
      for (size_t pos = 0; !m;) {
        size_t next = parent.find('/', pos);
        m = Match(p, std::string_view(parent).substr(0, next));
        if (next == std::string::npos) break;
        pos = next + 1;
      }
    }
    if (m) matched = !p.exclusion;
  }
  return matched;
}

bool DockerignoreMatcher::CanSkipDir(std::string_view raw) const {
  if (!Excluded(raw)) return false;
  std::string dir = CleanRel(raw);
  std::vector<std::string> comps = absl::StrSplit(dir, '/');
  for (const Pattern& p : patterns_) {
    if (!p.exclusion) continue;
    bool may = true;
    for (size_t i = 0; i < p.dirs.size() && i < comps.size(); ++i) {
      if (p.dirs[i].find("**") != std::string::npos) break;
      if (!ShellPatternMatch(p.dirs[i], comps[i]) && p.dirs[i] != comps[i]) {
        may = false;
        break;
      }
    }
    if (may) return false;
  }
  return true;
}

}  // namespace kiln::engine
