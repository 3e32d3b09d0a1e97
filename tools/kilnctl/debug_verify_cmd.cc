// kilnctl debug verify [--repair]: asks kilnd to check its stores against each other (the
// DebugVerify RPC, engine/daemon/verify.h) and prints every problem with the object's id and
// what it affects. Exit 0 when nothing is wrong; 1 when problems were found (even if --repair
// fixed all of them: run it again to see a clean state); 2 when the check itself failed.
#include <cstdio>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "tools/kilnctl/client.h"
#include "tools/kilnctl/command.h"

namespace kiln::tools {
namespace {

void RunDebugVerify(const std::string& addr, bool repair) {
  auto client = DaemonClient::Connect(ClientOptions{AddrOr(addr)});
  ExitIfError(client.status(), 2);
  auto report = (*client)->DebugVerify(repair);
  ExitIfError(report.status(), 2);
  std::string counts;
  for (const auto& c : report->checked()) {
    absl::StrAppend(&counts, counts.empty() ? "" : ", ", c.checked(), " ", c.store());
  }
  int repaired = 0;
  for (const auto& p : report->problems()) {
    std::printf("%s %s: %s\n  affects: %s%s\n", p.store().c_str(), p.object().c_str(),
                p.problem().c_str(), p.affects().c_str(), p.repaired() ? "\n  repaired" : "");
    repaired += p.repaired() ? 1 : 0;
  }
  std::printf("checked %s: %d problem(s)", counts.c_str(), report->problems_size());
  if (repair) std::printf(", %d repaired", repaired);
  std::printf("\n");
  std::fflush(stdout);
  if (report->problems_size() > 0) throw CommandExit{1};
}

CommandRegistrar registrar(901, [](CLI::App& root) {
  auto addr = std::make_shared<std::string>();
  auto repair = std::make_shared<bool>(false);
  CLI::App* debug = SubcommandOf(root, "debug", "Debugging tools (graph, workers, verify)");
  CLI::App* cmd = debug->add_subcommand(
      "verify", "Check kilnd's content, images, snapshots, cache records and leases");
  cmd->add_option("--addr", *addr, "kilnd address (unix:///path); default: this user's");
  cmd->add_flag("--repair", *repair,
                "Drop what is inconsistent (it becomes a cache miss); keep everything else");
  cmd->callback([addr, repair] { RunDebugVerify(*addr, *repair); });
});

}  // namespace
}  // namespace kiln::tools
