// Typed Dockerfile instructions: the AST (parser.h) checked and converted into one struct
// per instruction, grouped into stages. Flags are validated here (unknown or repeated flags
// are errors). Values are kept as written: variable expansion happens during lowering,
// because it depends on the stage's ARG/ENV state.
//
// Pure functions; thread-safe. Errors are InvalidArgument "<file>:<line>: <what was wrong,
// what was expected>".
#ifndef KILN_ENGINE_FRONTEND_INSTRUCTIONS_H_
#define KILN_ENGINE_FRONTEND_INSTRUCTIONS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/frontend/checks.h"
#include "engine/frontend/parser.h"

namespace kiln::engine {

struct KeyValue {
  std::string key;
  std::string value;  // unexpanded
};

struct ArgSpec {
  std::string key;
  std::optional<std::string> default_value;  // unexpanded
};

struct FromInstr {
  std::string image;       // unexpanded
  std::string stage_name;  // lower-cased; empty when no AS
  std::string platform;    // --platform, unexpanded
};
struct RunInstr {
  std::vector<std::string> cmd;  // exec form elements, or the one shell-form string
  bool prepend_shell = true;     // shell form
  std::vector<std::string> mounts;  // raw --mount values, in order
  std::string network;              // --network ("" = default)
  std::string security;             // --security ("" = sandbox)
  std::vector<Heredoc> files;       // heredocs on the RUN line
};
struct CmdInstr {  // CMD and ENTRYPOINT
  std::vector<std::string> cmd;
  bool prepend_shell = true;
};
struct EntrypointInstr {
  std::vector<std::string> cmd;
  bool prepend_shell = true;
};
struct EnvInstr {
  std::vector<KeyValue> vars;
  bool legacy = false;  // "ENV key value" (LegacyKeyValueFormat)
};
struct LabelInstr {
  std::vector<KeyValue> labels;
  bool legacy = false;  // "LABEL key value"
};
struct MaintainerInstr { std::string name; };
struct ExposeInstr { std::vector<std::string> ports; };
struct CopyInstr {  // COPY and ADD
  bool is_add = false;
  std::vector<std::string> sources;   // unexpanded paths/URLs (heredocs removed)
  std::vector<Heredoc> source_contents;  // heredoc sources (COPY <<EOF /dest)
  std::string dest;
  std::string from;      // COPY --from
  std::string chown;     // --chown
  std::string chmod;     // --chmod
  std::string checksum;  // ADD --checksum
  bool keep_git_dir = false;
  bool link = false;
  bool parents = false;
  std::vector<std::string> excludes;
};
struct VolumeInstr { std::vector<std::string> paths; };
struct UserInstr { std::string user; };
struct WorkdirInstr { std::string path; };
struct ArgInstr { std::vector<ArgSpec> args; };
struct OnbuildInstr { std::string expression; };  // the trigger as written ("RUN echo hi")
struct StopSignalInstr { std::string signal; };
struct HealthcheckInstr {
  bool none = false;
  std::vector<std::string> test;  // ["CMD", ...] or ["CMD-SHELL", "..."]
  int64_t interval_ns = 0, timeout_ns = 0, start_period_ns = 0, start_interval_ns = 0;
  int retries = 0;
};
struct ShellInstr { std::vector<std::string> shell; };

using Instruction =
    std::variant<RunInstr, CmdInstr, EntrypointInstr, EnvInstr, LabelInstr, MaintainerInstr,
                 ExposeInstr, CopyInstr, VolumeInstr, UserInstr, WorkdirInstr, ArgInstr,
                 OnbuildInstr, StopSignalInstr, HealthcheckInstr, ShellInstr>;

struct Command {
  Instruction instr;
  std::string keyword;   // upper-case ("RUN")
  std::string written_keyword;        // as written ("run", "Run")
  std::vector<std::string> comments;  // comment lines directly above (build-check config)
  std::string original;  // the instruction as written (continuations joined)
  int line = 0;
};

struct Stage {
  FromInstr from;
  std::string written_keyword;        // "FROM" as written
  std::vector<std::string> comments;  // comment lines directly above the FROM
  std::string original;  // the FROM line
  int line = 0;
  std::vector<Command> commands;
};

struct Dockerfile {
  std::string filename;
  Directives directives;
  std::vector<ArgInstr> meta_args;  // ARGs before the first FROM (global scope)
  std::vector<int> meta_arg_lines;
  std::vector<std::vector<std::string>> meta_arg_comments;
  std::vector<Stage> stages;
  // Build checks found while parsing (all stages; unfiltered: see checks.h).
  std::vector<CheckWarning> checks;
};

// Converts a parsed AST. InvalidArgument on unknown instructions, unknown, repeated or
// malformed flags, wrong argument counts, instructions before the first FROM (other than
// ARG), and invalid stage names. A repeated stage name is a build check (Dockerfile::checks).
// Takes the AST by value: pass an rvalue to let it move the strings out instead of copying.
absl::StatusOr<Dockerfile> ParseInstructions(Ast ast, std::string_view filename);

// Parses and converts in one step.
absl::StatusOr<Dockerfile> ParseDockerfileInstructions(std::string_view content,
                                                       std::string_view filename);

// Converts one node (e.g. an ONBUILD trigger re-parsed at use). `node` must not be FROM.
absl::StatusOr<Command> ParseCommand(AstNode node, std::string_view filename);

// Go time.ParseDuration ("1m30s", "500ms"); InvalidArgument when malformed.
absl::StatusOr<int64_t> ParseGoDuration(std::string_view s);

}  // namespace kiln::engine

#endif  // KILN_ENGINE_FRONTEND_INSTRUCTIONS_H_
