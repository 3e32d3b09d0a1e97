#include "engine/build/excludes.h"

#include <fnmatch.h>

#include <memory>

namespace kiln::engine {
namespace {

struct Pattern {
  std::string glob;
  bool negate = false;
};

std::string CleanPattern(std::string p) {
  while (!p.empty() && (p.back() == ' ' || p.back() == '\t' || p.back() == '\r')) p.pop_back();
  size_t i = 0;
  while (i < p.size() && (p[i] == ' ' || p[i] == '\t')) ++i;
  p = p.substr(i);
  while (p.rfind("./", 0) == 0) p = p.substr(2);
  while (!p.empty() && p[0] == '/') p = p.substr(1);
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  return p;
}

// "**" matches any number of path components.
bool Match(const std::string& glob, const std::string& path) {
  if (glob.find("**") == std::string::npos) return ::fnmatch(glob.c_str(), path.c_str(), FNM_PATHNAME) == 0;
  // Expand "**/" into zero or more components by trying every split point.
  size_t pos = glob.find("**");
  std::string head = glob.substr(0, pos);
  std::string tail = glob.substr(pos + 2);
  if (!tail.empty() && tail[0] == '/') tail = tail.substr(1);
  if (!head.empty() && ::fnmatch((head + "*").c_str(), path.c_str(), 0) != 0) return false;
  for (size_t i = head.size(); i <= path.size(); ++i) {
    if (i != head.size() && path[i - 1] != '/') continue;
    std::string rest = path.substr(i);
    if (tail.empty()) return true;
    if (Match(tail, rest)) return true;
  }
  return false;
}

}  // namespace

std::function<bool(std::string_view, bool)> MakeExcludeFn(const std::vector<std::string>& patterns) {
  auto list = std::make_shared<std::vector<Pattern>>();
  for (const std::string& raw : patterns) {
    std::string p = raw;
    if (p.empty() || p[0] == '#') continue;
    Pattern pat;
    std::string t = CleanPattern(p);
    if (!t.empty() && t[0] == '!') {
      pat.negate = true;
      t = CleanPattern(t.substr(1));
    }
    if (t.empty()) continue;
    pat.glob = t;
    list->push_back(std::move(pat));
  }
  return [list](std::string_view rel, bool) {
    std::string path(rel);
    bool excluded = false;
    for (const Pattern& p : *list) {
      // A pattern matches the path itself or any parent directory of it.
      bool m = Match(p.glob, path);
      for (size_t i = path.find('/'); !m && i != std::string::npos; i = path.find('/', i + 1)) {
        m = Match(p.glob, path.substr(0, i));
      }
      if (m) excluded = !p.negate;
    }
    return excluded;
  };
}

}  // namespace kiln::engine
