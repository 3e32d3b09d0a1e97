// kilnctl du [-v]: disk usage of the build cache, from kilnd.
#include <cstdio>

#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "tools/kilnctl/client.h"
#include "tools/kilnctl/command.h"
#include "tools/kilnctl/progress_format.h"

namespace kiln::tools {
namespace {

struct DuFlags {
  bool verbose = false;
  std::string addr;
};

void RunDu(const DuFlags& flags) {
  auto client = DaemonClient::Connect(ClientOptions{AddrOr(flags.addr)});
  ExitIfError(client.status());
  auto records = (*client)->DiskUsage();
  ExitIfError(records.status());
  int64_t total = 0, shared = 0, reclaimable = 0;
  if (!flags.verbose) {
    std::printf("%-40s %-8s %-8s %10s %s\n", "ID", "KIND", "SHARED", "SIZE", "LAST USED");
  }
  for (const engine::UsageRecord& r : *records) {
    total += r.size_bytes;
    if (r.shared) shared += r.size_bytes;
    if (!r.in_use) reclaimable += r.size_bytes;
    std::string last = r.last_used_unix > 0 ? FormatAgo(r.last_used_unix) : "never";
    if (flags.verbose) {
      std::printf("ID:\t\t%s\nKind:\t\t%s\nDescription:\t%s\nSize:\t\t%s\nLast used:\t%s\n"
                  "Shared:\t\t%s\nIn use:\t\t%s\n\n",
                  r.id.c_str(), r.kind.c_str(), r.description.c_str(),
                  FormatBytes(r.size_bytes).c_str(), last.c_str(), r.shared ? "true" : "false",
                  r.in_use ? "true" : "false");
    } else {
      std::printf("%-40.40s %-8s %-8s %10s %s\n", r.id.c_str(), r.kind.c_str(),
                  r.shared ? "true" : "false", FormatBytes(r.size_bytes).c_str(), last.c_str());
    }
  }
  std::printf("Shared:\t\t%s\nReclaimable:\t%s\nTotal:\t\t%s\n", FormatBytes(shared).c_str(),
              FormatBytes(reclaimable).c_str(), FormatBytes(total).c_str());
}

CommandRegistrar registrar(30, [](CLI::App& root) {
  auto flags = std::make_shared<DuFlags>();
  CLI::App* cmd = root.add_subcommand("du", "Show disk usage of the build cache");
  cmd->add_flag("-v,--verbose", flags->verbose, "One block per record");
  cmd->add_option("--addr", flags->addr, "kilnd address (unix:///path); default: this user's");
  cmd->callback([flags] { RunDu(*flags); });
});

}  // namespace
}  // namespace kiln::tools
