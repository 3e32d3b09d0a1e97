// kilnctl prune [--all] [--keep-storage SIZE] [--keep-duration D]: free build cache in kilnd.
#include <cstdio>

#include "engine/daemon/config.h"
#include "tools/kilnctl/client.h"
#include "tools/kilnctl/command.h"
#include "tools/kilnctl/progress_format.h"

namespace kiln::tools {
namespace {

struct PruneFlags {
  bool all = false;
  std::string keep_storage;
  std::string keep_duration;
  std::string addr;
};

void RunPrune(const PruneFlags& flags) {
  engine::PruneOptions options;
  options.all = flags.all;
  if (!flags.keep_storage.empty()) {
    auto size = engine::daemon::ParseSize(flags.keep_storage);
    ExitIfError(size.status());
    options.keep_storage_bytes = *size;
  }
  if (!flags.keep_duration.empty()) {
    auto duration = engine::daemon::ParseDurationText(flags.keep_duration);
    ExitIfError(duration.status());
    options.keep_duration = *duration;
  }
  auto client = DaemonClient::Connect(ClientOptions{AddrOr(flags.addr)});
  ExitIfError(client.status());
  auto report = (*client)->Prune(options);
  ExitIfError(report.status());
  std::printf("Removed %d records, total reclaimed: %s\n", report->records_removed,
              FormatBytes(report->bytes_freed).c_str());
}

CommandRegistrar registrar(31, [](CLI::App& root) {
  auto flags = std::make_shared<PruneFlags>();
  CLI::App* cmd = root.add_subcommand("prune", "Remove build cache");
  cmd->add_flag("--all", flags->all, "Remove everything not in use, not only old records");
  cmd->add_option("--keep-storage", flags->keep_storage, "Keep this much (e.g. 10GB)");
  cmd->add_option("--keep-duration", flags->keep_duration, "Keep records used within (e.g. 48h)");
  cmd->add_option("--addr", flags->addr, "kilnd address (unix:///path); default: this user's");
  cmd->callback([flags] { RunPrune(*flags); });
});

}  // namespace
}  // namespace kiln::tools
