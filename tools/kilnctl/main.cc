// kilnctl: Kiln's command-line client. Subcommands live in <cmd>_cmd.cc files.
//
// Two executables share this main: `kilnctl` holds the commands that talk to kilnd (build, du,
// prune, image, debug workers, version) and nothing of the engine, so it starts fast (see
// CMakeLists.txt); `kilnctl-local` holds the commands that run engine code in this process
// (run, debug graph). kilnctl hands those over by exec'ing kilnctl-local from its own
// directory with the same arguments.
#include <malloc.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
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

std::string& GlobalAddr() {
  static auto* addr = new std::string();
  return *addr;
}

std::string AddrOr(const std::string& command_flag) {
  if (!command_flag.empty()) return command_flag;
  if (!GlobalAddr().empty()) return GlobalAddr();
  const char* env = std::getenv("KILN_HOST");
  return env != nullptr ? env : "";
}

void EndProcess(int code) {
#if !defined(__SANITIZE_ADDRESS__)
  std::fflush(nullptr);
  _exit(code);
#else
  (void)code;
#endif
}

void ExitIfError(const absl::Status& status, int code) {
  if (status.ok()) return;
  std::fprintf(stderr, "kilnctl: %s\n", std::string(status.message()).c_str());
  throw CommandExit{code};
}

#ifdef KILNCTL_LOCAL_BINARY
namespace {

struct LocalCommand {
  const char* name;
  const char* sub;  // nullptr: the whole command; else only this subcommand of it
  const char* description;
};
constexpr LocalCommand kLocalCommands[] = {
    {"run", nullptr, "Run an image from the local store in Kiln's sandbox"},
    {"debug", "graph", "Print the build graph a Dockerfile lowers to (runs kilnctl-local)"},
};

bool IsLocal(const LocalCommand& local, int argc, char** argv, int cmd) {
  if (cmd >= argc || std::string_view(argv[cmd]) != local.name) return false;
  return local.sub == nullptr || (cmd + 1 < argc && std::string_view(argv[cmd + 1]) == local.sub);
}

// Replaces this process with kilnctl-local (next to our executable) when argv names one of
// its commands. Returns only on failure, after printing why.
int ExecLocal(char** argv) {
  char self[4096];
  ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
  std::string dir = n > 0 ? std::string(self, static_cast<size_t>(n)) : std::string(argv[0]);
  dir = dir.substr(0, dir.find_last_of('/') + 1);
  std::string helper = dir + KILNCTL_LOCAL_BINARY;
  execv(helper.c_str(), argv);
  std::fprintf(stderr, "kilnctl: %s: exec '%s': %s (it is built and installed next to kilnctl)\n",
               argv[1], helper.c_str(), std::strerror(errno));
  return 1;
}

}  // namespace
#endif

}  // namespace kiln::tools

int main(int argc, char** argv) {
  using kiln::tools::Registry;
#ifdef KILNCTL_LOCAL_BINARY
  // gRPC starts ~5 threads for one short call; by default glibc gives each thread that
  // allocates its own arena (a 64 MiB reservation and fresh pages to fault in). One arena is
  // plenty for a client that makes a few calls and exits.
  mallopt(M_ARENA_MAX, 1);
#endif
  CLI::App app{"kilnctl: build container images with Kiln (a buildctl-style client)"};
  app.name("kilnctl");
  app.require_subcommand(1);
  app.set_help_all_flag("--help-all", "Show help for every subcommand");
  app.add_option("--addr", kiln::tools::GlobalAddr(),
                 "kilnd address (unix:///path) for every command; default: $KILN_HOST, else "
                 "this user's daemon");
#ifdef KILNCTL_LOCAL_BINARY
  // The command is the first argument that is not the global --addr and its value.
  int cmd = 1;
  while (cmd < argc) {
    std::string_view a = argv[cmd];
    if (a == "--addr") {
      cmd += 2;
    } else if (a.rfind("--addr=", 0) == 0) {
      cmd += 1;
    } else {
      break;
    }
  }
  for (const auto& local : kiln::tools::kLocalCommands) {
    if (kiln::tools::IsLocal(local, argc, argv, cmd)) return kiln::tools::ExecLocal(argv);
    // Listed in --help; never parsed here.
    if (local.sub == nullptr) {
      app.add_subcommand(local.name, local.description);
    } else {
      kiln::tools::SubcommandOf(app, local.name, "Debugging tools (graph, workers)")
          ->add_subcommand(local.sub, local.description);
    }
  }
#endif
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
