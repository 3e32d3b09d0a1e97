// Where kilnd listens, keeps its state and reads its config, for root and rootless users.
//
//   rootless: socket $XDG_RUNTIME_DIR/kiln/kilnd.sock (fallback /run/user/<uid>/kiln/kilnd.sock),
//             state $XDG_DATA_HOME/kiln (fallback ~/.local/share/kiln),
//             config $XDG_CONFIG_HOME/kiln/kilnd.toml (fallback ~/.config/kiln/kilnd.toml)
//   root:     /run/kiln/kilnd.sock, /var/lib/kiln, /etc/kiln/kilnd.toml
//
// The functions read the environment and the real uid of the process (call them before
// entering a user namespace, where the uid changes). Thread-compatible (they read getenv).
#ifndef KILN_ENGINE_DAEMON_PATHS_H_
#define KILN_ENGINE_DAEMON_PATHS_H_

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace kiln::engine::daemon {

struct DefaultPaths {
  std::string socket;
  std::string root;
  std::string config;
};

// Defaults for `uid` (pass getuid()).
DefaultPaths DefaultPathsFor(unsigned uid);

// Turns an address ("unix:///abs/path", "unix:/abs/path", "/abs/path" or a relative path,
// resolved against the cwd) into a socket path. InvalidArgument for other schemes or "".
absl::StatusOr<std::string> SocketPathFromAddress(std::string_view address);

// The gRPC target for a socket path: "unix:<path>".
std::string GrpcTarget(const std::string& socket_path);

}  // namespace kiln::engine::daemon

#endif  // KILN_ENGINE_DAEMON_PATHS_H_
