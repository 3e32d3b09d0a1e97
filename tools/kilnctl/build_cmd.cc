// kilnctl build: buildctl-style (--frontend/--local/--opt/--output) and docker-style short
// form (-f/-t/--target/--build-arg DIR), run through kilnd.
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <thread>

#include "base/status.h"
#include "base/unique_fd.h"
#include "engine/daemon/build_options.h"
#include "tools/kilnctl/client.h"
#include "tools/kilnctl/command.h"
#include "tools/kilnctl/progress.h"
#include "tools/kilnctl/progress_trace.h"

namespace kiln::tools {
namespace {

struct BuildCmdFlags {
  engine::daemon::BuildFlags build;
  std::string progress = "auto";
  std::string trace;
  std::string metadata_file;
  std::string addr;
};

// Cancels the client's build on SIGINT/SIGTERM (blocked in every thread, read from a signalfd
// by a watcher thread). The destructor wakes the watcher through an eventfd, so ending a build
// never waits for a polling tick.
class InterruptWatcher {
 public:
  InterruptWatcher() {
    sigemptyset(&set_);
    sigaddset(&set_, SIGINT);
    sigaddset(&set_, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set_, nullptr);
    signals_.reset(signalfd(-1, &set_, SFD_CLOEXEC));
    wake_.reset(eventfd(0, EFD_CLOEXEC));
  }
  ~InterruptWatcher() {
    if (!thread_.joinable()) return;
    uint64_t one = 1;
    (void)!write(wake_.get(), &one, sizeof(one));
    thread_.join();
  }
  void Watch(DaemonClient* client) {
    if (!signals_.valid() || !wake_.valid()) {
      ExitIfError(base::ErrnoError("create the Ctrl-C watcher (signalfd, eventfd)"));
    }
    thread_ = std::thread([this, client] {
      for (;;) {
        pollfd fds[2] = {{signals_.get(), POLLIN, 0}, {wake_.get(), POLLIN, 0}};
        if (poll(fds, 2, -1) < 0) {
          if (errno == EINTR) continue;
          return;
        }
        if (fds[1].revents != 0) return;
        signalfd_siginfo info;
        if ((fds[0].revents & POLLIN) != 0 &&
            read(signals_.get(), &info, sizeof(info)) == sizeof(info)) {
          interrupted_ = true;
          client->Cancel();
        }
      }
    });
  }
  bool interrupted() const { return interrupted_; }

 private:
  sigset_t set_;
  base::UniqueFd signals_;
  base::UniqueFd wake_;
  std::atomic<bool> interrupted_{false};
  std::thread thread_;
};

int RunBuild(const BuildCmdFlags& flags) {
  char cwd[4096];
  if (getcwd(cwd, sizeof(cwd)) == nullptr) ExitIfError(base::ErrnoError("getcwd"));
  absl::StatusOr<engine::BuildRequest> request = engine::daemon::MakeBuildRequest(flags.build, cwd);
  ExitIfError(request.status());
  absl::StatusOr<ProgressMode> mode = ParseProgressMode(flags.progress);
  ExitIfError(mode.status());
  InterruptWatcher watcher;  // before any thread starts, so all inherit the mask
  absl::StatusOr<std::unique_ptr<DaemonClient>> client =
      DaemonClient::Connect(ClientOptions{AddrOr(flags.addr)});
  ExitIfError(client.status());
  std::unique_ptr<ProgressWriter> progress = MakeProgressWriter(*mode, stderr);
  TraceRecorder trace;
  watcher.Watch(client->get());
  absl::StatusOr<engine::BuildResult> result =
      (*client)->Solve(*request, [&](const engine::BuildEvent& event) {
        progress->OnEvent(event);
        if (!flags.trace.empty()) trace.OnEvent(event);
      });
  progress->Finish(result.ok() ? &*result : nullptr, result.status());
  if (!flags.trace.empty()) ExitIfError(trace.Write(flags.trace));
  int code = result.ok() ? 0 : (watcher.interrupted() ? 130 : 1);
  if (result.ok() && !flags.metadata_file.empty()) {
    ExitIfError(WriteMetadataFile(flags.metadata_file, *request, *result));
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
                  "type=image,name=REF | type=oci,dest=out.tar[,tar=false] | "
                  "type=docker,dest=out.tar,name=REF | type=local,dest=DIR")
      ->expected(1)->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)->allow_extra_args(false);
  cmd->add_option("--secret", b.secrets,
                  "Secret for RUN --mount=type=secret: id=ID,src=PATH (read by kilnd)")
      ->expected(1)->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)->allow_extra_args(false);
  cmd->add_flag("--no-cache", b.no_cache, "Do not use the build cache");
  cmd->add_option("--progress", flags->progress, "auto, tty, plain, rawjson or quiet");
  cmd->add_option("--trace", flags->trace, "Write a Chrome trace-event JSON timeline to FILE");
  cmd->add_option("--metadata-file", flags->metadata_file, "Write build metadata JSON to FILE");
  cmd->add_option("--addr", flags->addr, "kilnd address (unix:///path); default: this user's");
  cmd->add_option("-f,--file", b.file, "Dockerfile path (short form)");
  cmd->add_option("-t,--tag", b.tags, "Image name; implies --output type=image,name=NAME")
      ->expected(1)->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)->allow_extra_args(false);
  cmd->add_option("--target", b.target, "Stage to build");
  cmd->add_option("--build-arg", b.build_args, "Build argument K=V")
      ->expected(1)->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)->allow_extra_args(false);
  cmd->add_option("context", b.context, "Build context dir (short form)");
  cmd->callback([flags] {
    int code = RunBuild(*flags);
    if (code != 0) throw CommandExit{code};
  });
});

}  // namespace
}  // namespace kiln::tools
