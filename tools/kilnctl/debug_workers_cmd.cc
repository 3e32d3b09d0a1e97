// kilnctl debug workers: the local worker's sandbox facts (sandbox::ProbeWorkerFacts).
#include <cstdio>
#include <string>

#include "absl/strings/str_join.h"
#include "sandbox/sandbox.h"
#include "sandbox/worker_facts.h"
#include "tools/kilnctl/command.h"

namespace kiln::tools {
namespace {

void PrintMap(const char* label, const std::string& map) {
  std::string oneline = map;
  while (!oneline.empty() && oneline.back() == '\n') oneline.pop_back();
  for (char& c : oneline) {
    if (c == '\n') c = ',';
  }
  std::printf("  %-14s%s\n", label, oneline.c_str());
}

void PrintFacts(const sandbox::WorkerFacts& f) {
  std::printf("worker: local\n");
  std::printf("  %-14s%s (euid %u)\n", "rootless:", f.rootless ? "yes" : "no", f.euid);
  std::printf("  %-14s%s, %s (%llu uids, %llu gids)%s%s\n",
              "userns:", sandbox::IdMappingModeName(f.id_mapping),
              f.full_mapping ? "full range" : "single id",
              static_cast<unsigned long long>(f.mapped_uids),
              static_cast<unsigned long long>(f.mapped_gids), f.mapping_note.empty() ? "" : ": ",
              f.mapping_note.c_str());
  PrintMap("uid_map:", f.uid_map);
  PrintMap("gid_map:", f.gid_map);
  std::printf("  %-14s%s\n", "network:", absl::StrJoin(f.network_modes, ", ").c_str());
  std::printf("  %-14s%s\n", "/sys:", f.sys_mount.c_str());
  std::printf("  %-14s%s\n", "seccomp:", f.seccomp.c_str());
  std::printf("  %-14s%s (NET_RAW dropped with network none); ambient cleared\n",
              "caps:", absl::StrJoin(f.capabilities, ",").c_str());
  std::printf("  %-14s%s, umask 022, fds > 2 closed\n",
              "no_new_privs:", f.no_new_privs ? "yes" : "no");
  std::printf("  %-14s%s\n", "overlay:", f.overlay ? "yes (userxattr)" : f.overlay_note.c_str());
  std::printf("  %-14s%s: %s\n", "limits:", sandbox::LimitLayerName(f.limit_layer),
              f.limit_note.c_str());
  std::printf("  %-14s%s\n", "kernel:", f.kernel.c_str());
  std::printf("  %-14s%s\n", "self-test:", f.self_test.c_str());
}

CommandRegistrar registrar(900, [](CLI::App& root) {
  CLI::App* debug = SubcommandOf(root, "debug", "Debugging tools");
  CLI::App* cmd = debug->add_subcommand("workers", "Show the worker's sandbox facts");
  cmd->callback([] {
    auto sb = sandbox::Sandbox::Create();
    ExitIfError(sb.status());
    auto facts = sandbox::ProbeWorkerFacts(**sb);
    ExitIfError(facts.status());
    PrintFacts(*facts);
    if (facts->self_test != "ok") throw CommandExit{1};
  });
});

}  // namespace
}  // namespace kiln::tools
