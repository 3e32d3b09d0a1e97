// kilnctl subcommand registry. Each <cmd>_cmd.cc registers itself with a static
// CommandRegistrar; main.cc builds the CLI11 tree from the registry. The files are compiled
// straight into the kilnctl executable, so the registrars are never dropped by the linker.
//
// A command reports failure by throwing CommandExit{code} from its callback after printing
// its error (this adapter is the only place exceptions are used, because CLI11 uses them).
#ifndef KILN_TOOLS_KILNCTL_COMMAND_H_
#define KILN_TOOLS_KILNCTL_COMMAND_H_

#include <functional>
#include <string>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"

namespace kiln::tools {

struct CommandExit {
  int code;
};

using CommandSetup = std::function<void(CLI::App& root)>;

struct CommandRegistrar {
  CommandRegistrar(int order, CommandSetup setup);
};

// Returns the subcommand `name` of `parent`, creating it (with `description`) if absent.
// Lets "debug graph" and "debug workers" live in different files.
CLI::App* SubcommandOf(CLI::App& parent, const std::string& name, const std::string& description);

// The daemon address a command uses: its own --addr, else the global one given before the
// command (`kilnctl --addr unix:///... build ...`, as with buildctl), else $KILN_HOST, else
// "" (this user's default daemon, started on demand).
std::string AddrOr(const std::string& command_flag);
// Storage for the global --addr (main.cc registers it).
std::string& GlobalAddr();

// Prints "kilnctl: <message>" to stderr and throws CommandExit{code} if !status.ok().
void ExitIfError(const absl::Status& status, int code = 1);

// For a command whose work and output are done: flushes stdio and ends the process with
// `code` at once, skipping destructors (gRPC's orderly shutdown joins six threads, with
// sleeps, for nothing the kernel would not release anyway). Under AddressSanitizer it returns
// instead, so LeakSanitizer still checks the normal teardown.
void EndProcess(int code);

}  // namespace kiln::tools

#endif  // KILN_TOOLS_KILNCTL_COMMAND_H_
