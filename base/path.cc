#include "base/path.h"

#include "absl/strings/str_cat.h"

namespace kiln::base {
namespace {

// Calls fn(component) for each non-empty component of `path`, in order.
template <class Fn>
void ForEachComponent(std::string_view path, Fn fn) {
  size_t i = 0;
  while (i < path.size()) {
    size_t j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    if (j > i) fn(path.substr(i, j - i));
    i = j + 1;
  }
}

std::string JoinParts(const std::vector<std::string_view>& parts) {
  std::string out;
  for (std::string_view p : parts) {
    if (!out.empty()) out.push_back('/');
    out.append(p);
  }
  return out;
}

}  // namespace

std::string CleanPath(std::string_view path) {
  if (path.empty()) return ".";
  const bool rooted = path[0] == '/';
  std::vector<std::string_view> parts;
  size_t leading_dotdots = 0;  // ".." kept at the front of a relative path
  ForEachComponent(path, [&](std::string_view c) {
    if (c == ".") return;
    if (c == "..") {
      if (parts.size() > leading_dotdots) {
        parts.pop_back();
      } else if (!rooted) {
        parts.push_back(c);
        ++leading_dotdots;
      }
      return;
    }
    parts.push_back(c);
  });
  std::string out = JoinParts(parts);
  if (rooted) return "/" + out;
  return out.empty() ? "." : out;
}

std::string CleanInRoot(std::string_view path) {
  std::vector<std::string_view> parts;
  ForEachComponent(path, [&](std::string_view c) {
    if (c == ".") return;
    if (c == "..") {
      if (!parts.empty()) parts.pop_back();
      return;
    }
    parts.push_back(c);
  });
  return JoinParts(parts);
}

absl::StatusOr<std::string> CleanBeneath(std::string_view path) {
  if (path.find('\0') != std::string_view::npos) {
    return absl::InvalidArgumentError("path holds a NUL byte; expected a file name");
  }
  std::vector<std::string_view> parts;
  bool escapes = false;
  ForEachComponent(path, [&](std::string_view c) {
    if (c == "." || escapes) return;
    if (c == "..") {
      if (parts.empty()) {
        escapes = true;
      } else {
        parts.pop_back();
      }
      return;
    }
    parts.push_back(c);
  });
  if (escapes) {
    return absl::InvalidArgumentError(
        absl::StrCat("path '", absl::string_view(path.data(), path.size()),
                     "': leaves its directory ('..' above the top); expected a path below it"));
  }
  return JoinParts(parts);
}

std::vector<std::string> PathComponents(std::string_view path) {
  std::vector<std::string> out;
  ForEachComponent(path, [&](std::string_view c) {
    if (c != ".") out.emplace_back(c);
  });
  return out;
}

bool HasDotDot(std::string_view path) {
  bool found = false;
  ForEachComponent(path, [&](std::string_view c) { found = found || c == ".."; });
  return found;
}

std::string JoinPath(std::string_view dir, std::string_view name) {
  if (dir.empty() || dir == ".") return std::string(name);
  if (name.empty() || name == ".") return std::string(dir);
  std::string out(dir);
  if (out.back() != '/') out.push_back('/');
  out.append(name);
  return out;
}

std::pair<std::string, std::string> SplitDirBase(std::string_view path) {
  size_t slash = path.rfind('/');
  if (slash == std::string_view::npos) return {"", std::string(path)};
  if (slash == 0) return {"/", std::string(path.substr(1))};
  return {std::string(path.substr(0, slash)), std::string(path.substr(slash + 1))};
}

}  // namespace kiln::base
