// kilnctl build: buildctl-style (--frontend/--local/--opt/--output) and docker-style short
// form (-f/-t/--target/--build-arg DIR), run through kilnd.
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>

#include "base/status.h"
#include "tools/kilnctl/build_credentials.h"
#include "tools/kilnctl/build_options.h"
#include "tools/kilnctl/check_report.h"
#include "tools/kilnctl/client.h"
#include "tools/kilnctl/command.h"
#include "tools/kilnctl/progress.h"
#include "tools/kilnctl/progress_trace.h"

namespace kiln::tools {
namespace {

struct BuildCmdFlags {
  BuildFlags build;
  std::string progress = "auto";
  std::string trace;
  std::string metadata_file;
  std::string addr;
  bool check = false;
  std::string pull;   // FROM pull policy: missing (default), always, never
  bool push = false;  // push every -t/type=image name after the build
};

// Cancels the client's build on SIGINT/SIGTERM, from a signal handler rather than a watcher
// thread: one thread fewer to start is measurable in a ~15 ms no-op rebuild
// (bench/daemon/README.md). The handler only sets a flag and shuts the connection down
// (DaemonClient::CancelFromSignalHandler, async-signal-safe); the Solve then ends and kilnd sees
// its client go away and cancels the build. A signal before the client exists is remembered
// and cancels it as soon as it is there. The handlers are installed before any thread starts.
class InterruptHandler {
 public:
  InterruptHandler() {
    struct sigaction sa = {};
    sa.sa_handler = &InterruptHandler::OnSignal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGINT, &sa, &old_int_);
    sigaction(SIGTERM, &sa, &old_term_);
  }
  ~InterruptHandler() {
    client_.store(nullptr);
    sigaction(SIGINT, &old_int_, nullptr);
    sigaction(SIGTERM, &old_term_, nullptr);
  }
  // From here on a signal cancels `client`'s build (and one that came before cancels it now).
  void Watch(DaemonClient* client) {
    client_.store(client);
    if (interrupted_.load()) client->CancelFromSignalHandler();
  }
  // Stops cancelling (before the client goes away).
  void Unwatch() { client_.store(nullptr); }
  bool interrupted() const { return interrupted_.load(); }

 private:
  static void OnSignal(int) {
    interrupted_.store(true);
    DaemonClient* client = client_.load();
    if (client != nullptr) client->CancelFromSignalHandler();
  }

  static inline std::atomic<bool> interrupted_{false};
  static inline std::atomic<DaemonClient*> client_{nullptr};
  struct sigaction old_int_ = {};
  struct sigaction old_term_ = {};
};

int RunBuild(const BuildCmdFlags& flags) {
  char cwd[4096];
  if (getcwd(cwd, sizeof(cwd)) == nullptr) ExitIfError(base::ErrnoError("getcwd"));
  absl::StatusOr<engine::BuildRequest> request = MakeBuildRequest(flags.build, cwd);
  ExitIfError(request.status());
  request->check_only = flags.check;
  request->pull = flags.pull;
  if (flags.push) {
    for (engine::Output& out : request->exports) {
      if (auto* image = std::get_if<engine::ImageOutput>(&out)) image->push = true;
    }
  }
  absl::StatusOr<ProgressMode> mode = ParseProgressMode(flags.progress);
  ExitIfError(mode.status());
  InterruptHandler interrupts;
  absl::StatusOr<std::unique_ptr<DaemonClient>> client =
      DaemonClient::Connect(ClientOptions{AddrOr(flags.addr)});
  ExitIfError(client.status());
  absl::StatusOr<std::vector<engine::RegistryCredential>> credentials =
      BuildCredentials(*request, **client);
  ExitIfError(credentials.status());
  request->credentials = std::move(*credentials);
  std::unique_ptr<ProgressWriter> progress = MakeProgressWriter(*mode, stderr);
  TraceRecorder trace;
  std::vector<engine::BuildEvent> warnings;  // build checks (events arrive in order)
  interrupts.Watch(client->get());
  absl::StatusOr<engine::BuildResult> result =
      (*client)->Solve(*request, [&](const engine::BuildEvent& event) {
        if (event.kind == engine::BuildEventKind::kWarning) warnings.push_back(event);
        if (flags.check && event.kind == engine::BuildEventKind::kWarning) return;
        progress->OnEvent(event);
        if (!flags.trace.empty()) trace.OnEvent(event);
      });
  interrupts.Unwatch();
  progress->Finish(result.ok() ? &*result : nullptr, result.status());
  if (flags.check && result.ok()) {
    // buildx: the report on stdout, exit 1 when a check found something.
    std::string dir =
        request->dockerfile_dir.empty() ? request->context_dir : request->dockerfile_dir;
    PrintCheckReport(stdout, warnings, dir + "/" + request->dockerfile_name);
    std::fflush(stdout);
    int code = warnings.empty() ? 0 : 1;
    EndProcess(code);
    return code;
  }
  if (!flags.trace.empty()) ExitIfError(trace.Write(flags.trace));
  int code = result.ok() ? 0 : (interrupts.interrupted() ? 130 : 1);
  if (result.ok() && !flags.metadata_file.empty()) {
    ExitIfError(WriteMetadataFile(flags.metadata_file, *request, *result, warnings));
  }
  EndProcess(code);  // the build is over; nothing left to release but the process
  return code;
}

CommandRegistrar registrar(10, [](CLI::App& root) {
  auto flags = std::make_shared<BuildCmdFlags>();
  CLI::App* cmd = root.add_subcommand("build", "Build an image from a Dockerfile (through kilnd)");
  auto& b = flags->build;
  cmd->add_option("--frontend", b.frontend, "Frontend (dockerfile.v0)");
  cmd->add_option("--local", b.locals, "Local dirs: context=DIR, dockerfile=DIR")
      ->expected(1)->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)->allow_extra_args(false);
  cmd->add_option("--opt", b.opts, "Frontend options: filename=F, target=T, build-arg:K=V")
      ->expected(1)->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)->allow_extra_args(false);
  cmd->add_option("--output,-o", b.outputs,
                  "type=image,name=REF[,push=true] | type=registry,name=REF | type=oci,dest=out.tar[,tar=false] | "
                  "type=docker,dest=out.tar,name=REF | type=local,dest=DIR; image, oci and "
                  "docker take compression=gzip|zstd|uncompressed")
      ->expected(1)->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)->allow_extra_args(false);
  cmd->add_option("--export-cache,--cache-to", b.cache_exports,
                  "Export the build cache: type=local,dest=DIR | type=registry,ref=REF; "
                  "mode=min|max, compression=gzip|zstd|uncompressed, ignore-error=true")
      ->expected(1)->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)->allow_extra_args(false);
  cmd->add_option("--import-cache,--cache-from", b.cache_imports,
                  "Import a build cache (in order): type=local,src=DIR | type=registry,ref=REF | REF")
      ->expected(1)->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)->allow_extra_args(false);
  cmd->add_option("--secret", b.secrets,
                  "Secret for RUN --mount=type=secret: id=ID,src=PATH (read by kilnd)")
      ->expected(1)->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)->allow_extra_args(false);
  cmd->add_flag("--no-cache", b.no_cache, "Do not use the build cache");
  cmd->add_flag("--check", flags->check,
                "Run only the build checks (BuildKit's Dockerfile rules); exit 1 on a warning");
  cmd->add_option("--progress", flags->progress, "auto, tty, plain, rawjson or quiet");
  cmd->add_option("--trace", flags->trace, "Write a Chrome trace-event JSON timeline to FILE");
  cmd->add_option("--metadata-file", flags->metadata_file, "Write build metadata JSON to FILE");
  cmd->add_option("--addr", flags->addr, "kilnd address (unix:///path); default: this user's");
  cmd->add_option("-f,--file", b.file, "Dockerfile path (short form)");
  cmd->add_option("-t,--tag", b.tags, "Image name; implies --output type=image,name=NAME")
      ->expected(1)->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)->allow_extra_args(false);
  cmd->add_option("--target", b.target, "Stage to build");
  cmd->add_option("--network", b.network,
                  "Network of every RUN without its own --network: default, none or host");
  cmd->add_option("--allow", b.allow, "Allow an entitlement: network.host")
      ->expected(1)->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)->allow_extra_args(false);
  cmd->add_option("--build-arg", b.build_args, "Build argument K=V")
      ->expected(1)->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)->allow_extra_args(false);
  cmd->add_option("context", b.context, "Build context dir (short form)");
  cmd->add_option("--pull", flags->pull,
                  "FROM images: missing (default; local store first), always (revalidate tags "
                  "with the registry), never");
  cmd->add_flag("--push", flags->push,
                "Also push the image names (-t, type=image) to their registries");
  cmd->callback([flags] {
    int code = RunBuild(*flags);
    if (code != 0) throw CommandExit{code};
  });
});

}  // namespace
}  // namespace kiln::tools
