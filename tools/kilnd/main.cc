// kilnd: Kiln's build daemon. Serves engine/daemon's Control service on a Unix socket.
//
// Order matters: the rootless user+mount namespace is entered and the signal mask set while
// the process is still single-threaded, i.e. before the engine's pool and gRPC start threads.
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <memory>
#include <string>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "base/status.h"
#include "base/userns.h"
#include "engine/core/engine.h"
#include "engine/daemon/config.h"
#include "engine/daemon/paths.h"
#include "engine/daemon/server.h"
#include "engine/daemon/socket.h"

namespace kiln::tools {
namespace {

namespace daemon = ::kiln::engine::daemon;

struct Flags {
  std::string addr;
  std::string root;
  std::string config;
  bool no_userns = false;
};

int Fail(const absl::Status& status) {
  std::fprintf(stderr, "kilnd: %s\n", std::string(status.message()).c_str());
  return 1;
}

// Blocks the signals kilnd handles with sigwait/sigtimedwait, for every thread started later.
sigset_t BlockShutdownSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);
  return set;
}

// Waits for a shutdown signal, applying the GC policy every `gc_interval` (if non-zero).
int WaitForSignal(const sigset_t& set, engine::Engine& engine, absl::Duration gc_interval) {
  for (;;) {
    int sig = 0;
    if (gc_interval > absl::ZeroDuration()) {
      timespec timeout = absl::ToTimespec(gc_interval);
      sig = sigtimedwait(&set, nullptr, &timeout);
      if (sig < 0) {
        if (errno == EAGAIN) {
          absl::StatusOr<engine::PruneReport> report = engine.Prune(engine::PruneOptions{});
          if (!report.ok()) {
            std::fprintf(stderr, "kilnd: periodic gc: %s\n",
                         std::string(report.status().message()).c_str());
          }
        }
        continue;
      }
    } else if (sigwait(&set, &sig) != 0) {
      continue;
    }
    return sig;
  }
}

// As root: a private mount namespace (host mounts still propagate in), so that every mount the
// daemon makes disappears with it, even after kill -9.
absl::Status EnterOwnMountNamespace() {
  if (unshare(CLONE_NEWNS) != 0) return base::ErrnoError("unshare(CLONE_NEWNS)");
  if (mount(nullptr, "/", nullptr, MS_REC | MS_SLAVE, nullptr) != 0) {
    return base::ErrnoError("make '/' a slave mount");
  }
  return absl::OkStatus();
}

int Run(const Flags& flags) {
  daemon::DefaultPaths defaults = daemon::DefaultPathsFor(getuid());
  bool rootless = geteuid() != 0;
  if (rootless && !flags.no_userns) {
    absl::StatusOr<base::UserNamespaceInfo> ns = base::EnterRootlessNamespace();
    if (!ns.ok()) return Fail(base::Annotate(ns.status(), "rootless setup"));
    if (!ns->note.empty()) std::fprintf(stderr, "kilnd: note: %s\n", ns->note.c_str());
  } else if (!rootless) {
    absl::Status mountns = EnterOwnMountNamespace();
    if (!mountns.ok()) return Fail(mountns);
  }
  sigset_t signals = BlockShutdownSignals();

  std::string config_path = flags.config.empty() ? defaults.config : flags.config;
  if (!flags.config.empty() && access(config_path.c_str(), R_OK) != 0) {
    return Fail(base::ErrnoError(absl::StrCat("read config '", config_path, "'")));
  }
  absl::StatusOr<daemon::DaemonConfig> config = daemon::LoadDaemonConfig(config_path);
  if (!config.ok()) return Fail(config.status());
  std::string socket_path = defaults.socket;
  if (!flags.addr.empty()) {
    absl::StatusOr<std::string> path = daemon::SocketPathFromAddress(flags.addr);
    if (!path.ok()) return Fail(path.status());
    socket_path = *path;
  }
  std::string root = flags.root.empty() ? defaults.root : flags.root;

  absl::StatusOr<base::UniqueFd> lock = daemon::LockStateRoot(root);
  if (!lock.ok()) return Fail(lock.status());
  engine::EngineOptions options;
  options.root = root;
  options.max_parallelism = config->max_parallelism;
  options.default_network = config->default_network;
  options.slirp4netns = config->slirp4netns;
  options.dns_servers = config->dns_servers;
  options.insecure_entitlements = config->insecure_entitlements;
  options.gc_keep_storage_bytes = config->gc_keep_storage_bytes;
  options.gc_keep_duration = config->gc_keep_duration;
  options.registries = config->registries;
  absl::StatusOr<std::unique_ptr<engine::Engine>> engine = engine::Engine::Open(options);
  if (!engine.ok()) return Fail(base::Annotate(engine.status(), "open engine"));

  daemon::ServerOptions server_options;
  server_options.socket_path = socket_path;
  server_options.root = root;
  server_options.allow_uids = config->allow_uids;
  server_options.rootless = rootless;
  absl::StatusOr<std::unique_ptr<daemon::DaemonServer>> server =
      daemon::DaemonServer::Start(engine->get(), server_options);
  if (!server.ok()) return Fail(server.status());
  std::fprintf(stderr, "kilnd: listening on unix://%s (root %s, pid %d%s)\n",
               socket_path.c_str(), root.c_str(), static_cast<int>(getpid()),
               rootless ? ", rootless" : "");

  int sig = WaitForSignal(signals, **engine, config->gc_interval);
  std::fprintf(stderr, "kilnd: %s: shutting down\n", strsignal(sig));
  (*server)->Shutdown(absl::Seconds(10));
  server->reset();
  engine->reset();
  return 0;
}

}  // namespace
}  // namespace kiln::tools

int main(int argc, char** argv) {
  kiln::tools::Flags flags;
  CLI::App app{"kilnd: the Kiln build daemon"};
  app.add_option("--addr", flags.addr,
                 "Socket address (unix:///path or a path); default "
                 "$XDG_RUNTIME_DIR/kiln/kilnd.sock rootless, /run/kiln/kilnd.sock as root");
  app.add_option("--root", flags.root,
                 "State dir; default $XDG_DATA_HOME/kiln rootless, /var/lib/kiln as root");
  app.add_option("--config", flags.config,
                 "Config file; default $XDG_CONFIG_HOME/kiln/kilnd.toml rootless, "
                 "/etc/kiln/kilnd.toml as root");
  app.add_flag("--no-userns", flags.no_userns,
               "Rootless: do not enter a user namespace (no overlay mounts; for tests)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  return kiln::tools::Run(flags);
}
