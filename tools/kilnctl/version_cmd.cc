// kilnctl version
#include <cstdio>

#include "tools/kilnctl/command.h"

namespace kiln::tools {
namespace {

CommandRegistrar registrar(100, [](CLI::App& root) {
  CLI::App* cmd = root.add_subcommand("version", "Print kilnctl's version");
  cmd->callback([] { std::printf("kilnctl 0.1.0\n"); });
});

}  // namespace
}  // namespace kiln::tools
