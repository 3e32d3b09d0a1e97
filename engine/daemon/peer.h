// Who is calling: the kernel's SO_PEERCRED credentials of an accepted Unix socket, a table
// that maps the connection fds handed to gRPC to those credentials, and the access checks
// the daemon makes on the caller's behalf.
#ifndef KILN_ENGINE_DAEMON_PEER_H_
#define KILN_ENGINE_DAEMON_PEER_H_

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace kiln::engine::daemon {

struct PeerCredentials {
  pid_t pid = 0;
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;  // supplementary groups (from /proc/<pid>/status; may be empty)
  bool allowed = false;       // passed the daemon's uid policy
};

// SO_PEERCRED of a connected Unix socket, plus the peer's supplementary groups when its
// /proc entry is readable. Errors: the getsockopt errno.
absl::StatusOr<PeerCredentials> ReadPeerCredentials(int fd);

// Maps the connection fds the daemon accepted (and gave to gRPC as channels named "fd:N")
// to their credentials. Thread-safe.
class PeerTable {
 public:
  // Records (replacing any earlier connection that had the same fd number).
  void Record(int fd, PeerCredentials creds);
  // Credentials for a grpc peer string ("fd:N"); nullopt if unknown.
  std::optional<PeerCredentials> Lookup(const std::string& grpc_peer) const;

 private:
  mutable absl::Mutex mu_;
  absl::flat_hash_map<int, PeerCredentials> by_fd_ ABSL_GUARDED_BY(mu_);
};

// Checks, from the mode bits and owners along the path, that `peer` may search every
// directory on the way to `path` and read it (for a directory: read + search). uid 0 passes.
// PermissionDenied "access 'path' as uid N: ..." naming the component that fails; NotFound /
// other errno errors from stat.
absl::Status CheckPeerCanRead(const PeerCredentials& peer, const std::string& path);

// Same for writing `path`: the nearest existing ancestor must be writable and searchable
// (or `path` itself writable when it exists).
absl::Status CheckPeerCanWrite(const PeerCredentials& peer, const std::string& path);

}  // namespace kiln::engine::daemon

#endif  // KILN_ENGINE_DAEMON_PEER_H_
