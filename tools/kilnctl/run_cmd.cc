// kilnctl run IMAGE [ARG...]: runs an image from the local store in Kiln's sandbox (like
// `podman run --rm`): ENTRYPOINT + CMD (ARGs replace CMD), the image's ENV, WORKDIR and USER.
// Works next to a running kilnd: it reads the image and content stores only.
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "base/userns.h"
#include "engine/core/run_image.h"
#include "engine/image/state_root.h"
#include "engine/solver/cancellation.h"
#include "tools/kilnctl/command.h"

namespace kiln::tools {
namespace {

struct RunArgs {
  std::string ref;
  std::vector<std::string> args;
  std::vector<std::string> env;
  std::string network = "host";
  std::string root;
};

void RunMain(const RunArgs& a) {
  // Unprivileged: enter our own user + mount namespace first (no threads exist yet).
  if (::geteuid() != 0) {
    auto ns = base::EnterRootlessNamespace();
    ExitIfError(ns.status());
  }
  engine::Engine::RunOptions o;
  o.args = a.args;
  o.env = a.env;
  o.network = a.network;
  o.on_stdout = [](std::string_view s) {
    std::fwrite(s.data(), 1, s.size(), stdout);
    std::fflush(stdout);
  };
  o.on_stderr = [](std::string_view s) {
    std::fwrite(s.data(), 1, s.size(), stderr);
    std::fflush(stderr);
  };
  std::string root = a.root.empty() ? engine::image::DefaultStateRoot() : a.root;
  auto rc = engine::RunStoredImage(root, a.ref, o);
  ExitIfError(rc.status(), 125);
  if (*rc != 0) throw CommandExit{*rc};
}

CommandRegistrar registrar(40, [](CLI::App& root) {
  static RunArgs args;  // lives as long as the CLI tree (no heap object to leak)
  RunArgs* a = &args;
  CLI::App* cmd = root.add_subcommand("run", "Run an image from the local store in Kiln's sandbox");
  cmd->add_option("image", a->ref, "Image reference (e.g. hello:latest)")->required();
  cmd->add_option("args", a->args, "Command arguments (replace the image's CMD)");
  cmd->add_option("-e,--env", a->env, "Set an environment variable K=V")->expected(1)->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)->allow_extra_args(false);
  cmd->add_option("--network", a->network, "host (default) or none");
  cmd->add_option("--root", a->root, "State root (default: /var/lib/kiln, or $XDG_DATA_HOME/kiln rootless)");
  cmd->positionals_at_end(false);
  cmd->callback([a] { RunMain(*a); });
});

}  // namespace
}  // namespace kiln::tools
