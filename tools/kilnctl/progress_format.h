// Human formats shared by kilnctl's views: sizes and ages.
#ifndef KILN_TOOLS_KILNCTL_PROGRESS_FORMAT_H_
#define KILN_TOOLS_KILNCTL_PROGRESS_FORMAT_H_

#include <cstdint>
#include <string>

namespace kiln::tools {

// "0B", "512B", "1.5kB", "23.4MB", "1.2GB" (decimal units, as docker prints).
std::string FormatBytes(int64_t bytes);
// "3 seconds ago", "5 minutes ago", "2 hours ago", "4 days ago" for a unix time.
std::string FormatAgo(int64_t unix_seconds);

}  // namespace kiln::tools

#endif  // KILN_TOOLS_KILNCTL_PROGRESS_FORMAT_H_
