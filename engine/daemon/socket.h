// The daemon's listening Unix socket and its state-root lock.
#ifndef KILN_ENGINE_DAEMON_SOCKET_H_
#define KILN_ENGINE_DAEMON_SOCKET_H_

#include <sys/types.h>

#include <string>

#include "absl/status/statusor.h"
#include "base/unique_fd.h"

namespace kiln::engine::daemon {

struct ListenOptions {
  mode_t socket_mode = 0600;
  mode_t dir_mode = 0700;  // applied to the socket's parent dir (created if missing)
};

// Creates the parent dir (mode `dir_mode`; an existing one must belong to this euid and is
// re-moded, unless it is a shared sticky or world-writable dir such as /tmp, which is left
// as it is), removes a stale socket file nobody answers on, then binds and listens.
// Errors: AlreadyExists "a daemon is already listening on 'path'" if something answers;
// FailedPrecondition if the path is not a socket or the dir belongs to another user; errno
// errors otherwise. Returns the listening fd (CLOEXEC, non-blocking).
absl::StatusOr<base::UniqueFd> ListenUnixSocket(const std::string& path,
                                                const ListenOptions& options);

// Connects to a Unix socket (blocking, CLOEXEC). Errors carry the errno's code:
// NotFound (ENOENT), Unavailable (ECONNREFUSED), PermissionDenied (EACCES), ...
absl::StatusOr<base::UniqueFd> ConnectUnixSocket(const std::string& path);

// Takes an exclusive flock on "<root>/kilnd.lock" (creating root 0700 if missing) and writes
// our pid into it. The lock lives as long as the returned fd. FailedPrecondition
// "another kilnd (pid N) is using the state root 'root'" if it is held.
absl::StatusOr<base::UniqueFd> LockStateRoot(const std::string& root);

}  // namespace kiln::engine::daemon

#endif  // KILN_ENGINE_DAEMON_SOCKET_H_
