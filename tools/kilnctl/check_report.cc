#include "tools/kilnctl/check_report.h"

#include <fstream>
#include <sstream>

#include "absl/strings/str_split.h"

namespace kiln::tools {
namespace {

std::vector<std::string> ReadLines(const std::string& path) {
  std::ifstream in(path);
  if (!in) return {};
  std::stringstream ss;
  ss << in.rdbuf();
  std::vector<std::string> lines = absl::StrSplit(ss.str(), '\n');
  return lines;
}

}  // namespace

void PrintCheckReport(FILE* out, const std::vector<engine::BuildEvent>& warnings,
                      const std::string& dockerfile) {
  if (warnings.empty()) {
    std::fprintf(out, "Check complete, no warnings found.\n");
    return;
  }
  std::fprintf(out, "Check complete, %zu %s been found!\n", warnings.size(),
               warnings.size() == 1 ? "warning has" : "warnings have");
  const std::vector<std::string> lines = ReadLines(dockerfile);
  for (const engine::BuildEvent& w : warnings) {
    std::fprintf(out, "\nWARNING: %s - %s\n%s\n%s:%d\n", w.rule.c_str(), w.url.c_str(),
                 w.message.c_str(), w.file.c_str(), w.line);
    if (w.line < 1 || static_cast<size_t>(w.line) > lines.size()) continue;
    std::fprintf(out, "--------------------\n");
    const int first = std::max(1, w.line - 2);
    const int last = std::min(static_cast<int>(lines.size()), w.line + 1);
    for (int i = first; i <= last; ++i) {
      std::fprintf(out, " %3d | %s %s\n", i, i == w.line ? ">>>" : "   ",
                   lines[static_cast<size_t>(i - 1)].c_str());
    }
    std::fprintf(out, "--------------------\n");
  }
}

}  // namespace kiln::tools
