// The report of `kilnctl build --check` (buildx's format): a count line, then per warning its
// rule and URL, its message, its place and the Dockerfile lines around it.
#ifndef KILN_TOOLS_KILNCTL_CHECK_REPORT_H_
#define KILN_TOOLS_KILNCTL_CHECK_REPORT_H_

#include <cstdio>
#include <string>
#include <vector>

#include "engine/core/events.h"

namespace kiln::tools {

// `warnings` are kWarning events; `dockerfile` is the path the client can read for the
// snippets (a warning whose file cannot be read is printed without one).
void PrintCheckReport(FILE* out, const std::vector<engine::BuildEvent>& warnings,
                      const std::string& dockerfile);

}  // namespace kiln::tools

#endif  // KILN_TOOLS_KILNCTL_CHECK_REPORT_H_
