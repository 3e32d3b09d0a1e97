#include "tools/kilnctl/progress_format.h"

#include <ctime>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace kiln::tools {

std::string FormatBytes(int64_t bytes) {
  static const char* kUnits[] = {"B", "kB", "MB", "GB", "TB", "PB"};
  double value = static_cast<double>(bytes);
  int unit = 0;
  while (value >= 1000.0 && unit < 5) {
    value /= 1000.0;
    ++unit;
  }
  if (unit == 0) return absl::StrCat(bytes, "B");
  return absl::StrFormat("%.3g%s", value, kUnits[unit]);
}

std::string FormatAgo(int64_t unix_seconds) {
  int64_t ago = static_cast<int64_t>(std::time(nullptr)) - unix_seconds;
  if (ago < 0) ago = 0;
  if (ago < 60) return absl::StrCat(ago, " seconds ago");
  if (ago < 3600) return absl::StrCat(ago / 60, " minutes ago");
  if (ago < 86400) return absl::StrCat(ago / 3600, " hours ago");
  return absl::StrCat(ago / 86400, " days ago");
}

}  // namespace kiln::tools
