// kilnctl: Kiln's command-line client. Subcommands live in <cmd>_cmd.cc files.
#include <algorithm>
#include <cstdio>
#include <utility>
#include <vector>

#include "tools/kilnctl/command.h"

namespace kiln::tools {
namespace {

std::vector<std::pair<int, CommandSetup>>& Registry() {
  static auto* registry = new std::vector<std::pair<int, CommandSetup>>();
  return *registry;
}

}  // namespace

CommandRegistrar::CommandRegistrar(int order, CommandSetup setup) {
  Registry().emplace_back(order, std::move(setup));
}

CLI::App* SubcommandOf(CLI::App& parent, const std::string& name,
                       const std::string& description) {
  for (CLI::App* sub : parent.get_subcommands([](CLI::App*) { return true; })) {
    if (sub->get_name() == name) return sub;
  }
  CLI::App* sub = parent.add_subcommand(name, description);
  sub->require_subcommand(0, 1);
  return sub;
}

void ExitIfError(const absl::Status& status, int code) {
  if (status.ok()) return;
  std::fprintf(stderr, "kilnctl: %s\n", std::string(status.message()).c_str());
  throw CommandExit{code};
}

}  // namespace kiln::tools

int main(int argc, char** argv) {
  using kiln::tools::Registry;
  CLI::App app{"kilnctl: build container images with Kiln (a buildctl-style client)"};
  app.require_subcommand(1);
  app.set_help_all_flag("--help-all", "Show help for every subcommand");
  auto& registry = Registry();
  std::stable_sort(registry.begin(), registry.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  for (auto& [order, setup] : registry) setup(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const kiln::tools::CommandExit& e) {
    return e.code;
  }
  return 0;
}
