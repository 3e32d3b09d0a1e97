// Internal state of the Dockerfile lowering (lower.h). Not part of the API.
#ifndef KILN_ENGINE_FRONTEND_LOWER_INTERNAL_H_
#define KILN_ENGINE_FRONTEND_LOWER_INTERNAL_H_

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "engine/frontend/checks.h"
#include "engine/frontend/dockerignore.h"
#include "engine/frontend/lower.h"
#include "engine/frontend/shell_lexer.h"

namespace kiln::engine::internal {

// Go's path.Clean for '/'-separated paths.
std::string CleanPath(std::string_view p);
// Joins `rel` onto `base` unless it is absolute, then cleans (keeps a trailing '/').
std::string JoinPath(std::string_view base, std::string_view rel, bool keep_trailing_slash);

// The value of `key` in a "K=V" list (last definition wins; "K" alone is set and empty), or
// nullptr. Unlike oci::EnvLookup it copies nothing.
std::optional<std::string_view> EnvFind(const std::vector<std::string>& env,
                                        std::string_view key);

// HTTP_PROXY and friends (passed to RUN without an ARG, kept out of digests).
bool IsProxyArg(std::string_view k);
// The proxy args and the TARGET*/BUILD* platform args.
bool IsPredefinedArg(std::string_view k);

inline constexpr const char* kDefaultPath =
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

struct StageState {
  bool lowered = false;
  bool lowering = false;
  std::string name;  // AS name or "stage-N"
  graph::VertexId vertex = 0;
  std::string platform;
  oci::ImageConfig config;
  std::optional<std::string> author;  // MAINTAINER (inherited from a parent stage); nullopt: base's
  bool cmd_set = false;  // CMD given in this stage (ENTRYPOINT then keeps it)
  std::vector<std::pair<std::string, std::string>> args;  // declared ARGs with values
  std::vector<std::string> declared_args;  // every ARG name declared (inherited from a base stage)
  bool workdir_set = false;  // a WORKDIR ran in this stage or a base stage (WorkdirRelativePath)
  int cmd_line = 0, entrypoint_line = 0, healthcheck_line = 0;  // MultipleInstructionsDisallowed
  std::vector<HistoryEntry> history;
  int step = 0;
  int steps = 0;
};

// What a --from / from= value names.
struct FromRef {
  int stage = -1;         // >= 0: a stage index
  std::string image;      // otherwise an image reference
};

// The variables one expansion looked up, found or not (BuildKit's ProcessWordWithMatches).
struct VarUse {
  std::vector<std::string> matched, unmatched;
};

class Lowerer {
 public:
  Lowerer(const Dockerfile& df, const LowerOptions& opt);
  absl::StatusOr<LoweredBuild> Run();

  // ---- used by the per-instruction files ----
  absl::Status Error(int line, absl::string_view msg) const;
  absl::Status Annotated(int line, const absl::Status& s) const;
  // Expands one word with the stage's variables (ENV first, then ARGs).
  absl::StatusOr<std::string> Expand(int stage, int line, std::string_view word);
  EnvGetter Vars(int stage);
  // The global ARGs and platform args, then `local` (searched first, last entry wins): the
  // scope FROM lines and stage discovery expand in.
  EnvGetter MetaVars(const std::vector<std::pair<std::string, std::string>>* local) const;
  // The vertex for a --from value; lowers the referenced stage if needed.
  absl::StatusOr<graph::VertexId> FromVertex(int stage, int line, std::string_view from,
                                             std::string* platform);
  // BuildKit's rules for repeated names: a FROM (`base`) takes the latest stage of that name
  // defined before `stage`; --from and from= take the last one in the file, which may come
  // later (a cycle fails when lowering), but never `stage` itself.
  absl::StatusOr<FromRef> ResolveFromName(int stage, int line, std::string_view name,
                                          bool base = false) const;
  absl::StatusOr<graph::VertexId> ImageVertex(int line, std::string_view ref,
                                              std::string_view platform,
                                              oci::ImageConfig* config, int stage = -1,
                                              const Command* cmd = nullptr);
  absl::StatusOr<graph::VertexId> ContextVertex(std::vector<std::string> includes,
                                                const std::vector<std::string>& excludes);
  absl::StatusOr<graph::VertexId> Add(graph::Op op, std::vector<graph::VertexId> inputs,
                                      int stage, const Command* cmd, std::string description = {});
  void Commit(int stage, std::string created_by, bool layer);
  std::vector<std::string> ExecEnv(int stage) const;
  // The stage's SHELL (default /bin/sh -c), with room for `extra` more arguments.
  std::vector<std::string> ShellArgs(int stage, size_t extra = 0) const;
  // CMD/ENTRYPOINT's argv: shell form (`prepend_shell`, non-empty) runs under the SHELL.
  std::vector<std::string> CommandLine(int stage, bool prepend_shell,
                                       const std::vector<std::string>& cmd) const;

  absl::Status LowerRun(int stage, const Command& cmd, const RunInstr& run);
  absl::Status LowerCopy(int stage, const Command& cmd, const CopyInstr& copy);
  absl::Status FinishMount(int stage, const Command& cmd, const std::string& spec,
                           const std::string& from, graph::ExecMount& m,
                           std::vector<graph::VertexId>& inputs);
  absl::Status LowerWorkdir(int stage, const Command& cmd, const WorkdirInstr& w);
  absl::Status LowerConfig(int stage, const Command& cmd);
  absl::Status LowerArg(int stage, const Command& cmd, const ArgInstr& arg);

  // ---- build checks (lower_checks.cc) ----
  static EnvGetter Recording(EnvGetter inner, VarUse* use);
  const std::vector<std::string>* CurrentComments() const;
  void ReportUndefined(int stage, int line, const VarUse& use);  // UndefinedVar
  absl::Status CheckFromLines();                                 // every stage's FROM
  void CheckWorkdir(int stage, int line, std::string_view path);
  void CheckConfigCommand(int stage, const Command& cmd);
  void CheckCopySource(const Command& cmd, bool is_add, std::string_view src);
  absl::StatusOr<CheckConfig> BuildCheckConfig();
  CheckRecorder& checks() { return checks_; }

  // The --build-arg value for `key` (marking it used), or nullopt.
  std::optional<std::string> BuildArgValue(const std::string& key);
  const std::vector<std::pair<std::string, std::string>>& meta_args() const { return meta_; }

  StageState& state(int stage) { return states_[static_cast<size_t>(stage)]; }
  const Dockerfile& df() const { return df_; }
  const LowerOptions& opt() const { return opt_; }
  const ShellLexer& lexer() const { return lexer_; }

 private:
  absl::Status ComputeMetaArgs();
  absl::StatusOr<int> TargetIndex() const;
  std::vector<int> StageDeps(int stage);
  absl::Status LowerStage(int stage);
  absl::Status StartStage(int stage);
  absl::Status RunTriggers(int stage);
  absl::Status LowerCommand(int stage, const Command& cmd);

  const Dockerfile& df_;
  const LowerOptions& opt_;
  ShellLexer lexer_;
  graph::Graph graph_;
  std::vector<StageState> states_;
  std::vector<std::pair<std::string, std::string>> meta_;  // global ARG values
  std::vector<std::pair<std::string, std::string>> platform_args_;  // TARGETPLATFORM ...
  CheckRecorder checks_;
  const Command* current_ = nullptr;  // the instruction being lowered
  std::optional<DockerignoreMatcher> copy_ignore_;  // CopyIgnoredFile's matcher, built lazily
  bool copy_ignore_built_ = false;
  std::map<std::string, bool> build_arg_used_;
  absl::flat_hash_map<std::string, int> stage_index_;  // stage name -> its last index
  std::map<std::pair<std::string, std::string>, ResolvedImage> resolved_;  // (ref, platform)
};

}  // namespace kiln::engine::internal

#endif  // KILN_ENGINE_FRONTEND_LOWER_INTERNAL_H_
