// kilnctl debug workers: the facts of the worker that runs the builds, asked of kilnd (its
// Info RPC), like `buildctl debug workers`. Nothing is probed in this process.
#include <cstdio>
#include <memory>
#include <string>

#include "tools/kilnctl/client.h"
#include "tools/kilnctl/command.h"

namespace kiln::tools {
namespace {

void RunDebugWorkers(const std::string& addr) {
  auto client = DaemonClient::Connect(ClientOptions{AddrOr(addr)});
  ExitIfError(client.status());
  auto info = (*client)->Info();
  ExitIfError(info.status());
  std::printf("worker: kilnd (pid %d, %s)\n", static_cast<int>(info->pid()),
              info->address().c_str());
  std::string self_test;
  for (const auto& kv : info->worker()) {
    std::printf("  %-14s%s\n", (kv.key() + ":").c_str(), kv.value().c_str());
    if (kv.key() == "self-test") self_test = kv.value();
  }
  if (self_test != "ok") {
    std::fprintf(stderr, "kilnctl: the worker's self-test did not pass: %s\n",
                 self_test.empty() ? "(not reported)" : self_test.c_str());
    throw CommandExit{1};
  }
}

CommandRegistrar registrar(900, [](CLI::App& root) {
  auto addr = std::make_shared<std::string>();
  CLI::App* debug = SubcommandOf(root, "debug", "Debugging tools (graph, workers)");
  CLI::App* cmd = debug->add_subcommand("workers", "Show the facts of kilnd's worker");
  cmd->add_option("--addr", *addr, "kilnd address (unix:///path); default: this user's");
  cmd->callback([addr] { RunDebugWorkers(*addr); });
});

}  // namespace
}  // namespace kiln::tools
