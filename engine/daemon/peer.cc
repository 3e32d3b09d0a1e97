#include "engine/daemon/peer.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "base/status.h"

namespace kiln::engine::daemon {
namespace {

std::vector<gid_t> ReadGroups(pid_t pid) {
  std::vector<gid_t> groups;
  std::ifstream in(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  while (std::getline(in, line)) {
    if (!absl::StartsWith(line, "Groups:")) continue;
    for (absl::string_view item :
         absl::StrSplit(absl::string_view(line).substr(7), ' ', absl::SkipWhitespace())) {
      gid_t gid = 0;
      if (absl::SimpleAtoi(item, &gid)) groups.push_back(gid);
    }
  }
  return groups;
}

// The permission class bits (r=4, w=2, x=1) that apply to `peer` for `st`.
unsigned PermBits(const PeerCredentials& peer, const struct stat& st) {
  if (st.st_uid == peer.uid) return (st.st_mode >> 6) & 7;
  bool in_group = st.st_gid == peer.gid ||
                  std::find(peer.groups.begin(), peer.groups.end(), st.st_gid) !=
                      peer.groups.end();
  if (in_group) return (st.st_mode >> 3) & 7;
  return st.st_mode & 7;
}

absl::Status Denied(const PeerCredentials& peer, const std::string& path,
                    const std::string& component, const char* need) {
  return absl::PermissionDeniedError(absl::StrCat("access '", path, "' as uid ", peer.uid,
                                                  ": '", component, "' is not ", need,
                                                  " for that user"));
}

// Checks search permission on every directory above `path` (not `path` itself).
absl::Status CheckAncestors(const PeerCredentials& peer, const std::string& path) {
  std::string dir;
  for (absl::string_view part : absl::StrSplit(path, '/', absl::SkipEmpty())) {
    std::string current = dir.empty() ? "/" : dir;
    struct stat st;
    if (stat(current.c_str(), &st) != 0) {
      return base::ErrnoError(absl::StrCat("stat '", current, "'"));
    }
    if ((PermBits(peer, st) & 1) == 0) return Denied(peer, path, current, "searchable");
    absl::StrAppend(&dir, "/", part);
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<PeerCredentials> ReadPeerCredentials(int fd) {
  struct ucred cred;
  socklen_t len = sizeof(cred);
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
    return base::ErrnoError("getsockopt SO_PEERCRED");
  }
  PeerCredentials peer;
  peer.pid = cred.pid;
  peer.uid = cred.uid;
  peer.gid = cred.gid;
  if (cred.pid > 0) peer.groups = ReadGroups(cred.pid);
  return peer;
}

void PeerTable::Record(int fd, PeerCredentials creds) {
  absl::MutexLock lock(&mu_);
  by_fd_[fd] = std::move(creds);
}

std::optional<PeerCredentials> PeerTable::Lookup(const std::string& grpc_peer) const {
  if (!absl::StartsWith(grpc_peer, "fd:")) return std::nullopt;
  int fd = -1;
  if (!absl::SimpleAtoi(absl::string_view(grpc_peer).substr(3), &fd)) return std::nullopt;
  absl::MutexLock lock(&mu_);
  auto it = by_fd_.find(fd);
  if (it == by_fd_.end()) return std::nullopt;
  return it->second;
}

absl::Status CheckPeerCanRead(const PeerCredentials& peer, const std::string& path) {
  if (path.empty() || path[0] != '/') {
    return absl::InvalidArgumentError(absl::StrCat("access '", path, "': path is not absolute"));
  }
  if (peer.uid == 0) return absl::OkStatus();
  KILN_RETURN_IF_ERROR(CheckAncestors(peer, path));
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return base::ErrnoError(absl::StrCat("stat '", path, "'"));
  unsigned bits = PermBits(peer, st);
  if ((bits & 4) == 0) return Denied(peer, path, path, "readable");
  if (S_ISDIR(st.st_mode) && (bits & 1) == 0) return Denied(peer, path, path, "searchable");
  return absl::OkStatus();
}

absl::Status CheckPeerCanWrite(const PeerCredentials& peer, const std::string& path) {
  if (path.empty() || path[0] != '/') {
    return absl::InvalidArgumentError(absl::StrCat("access '", path, "': path is not absolute"));
  }
  if (peer.uid == 0) return absl::OkStatus();
  std::string existing = path;
  struct stat st;
  while (stat(existing.c_str(), &st) != 0) {
    if (errno != ENOENT) return base::ErrnoError(absl::StrCat("stat '", existing, "'"));
    size_t slash = existing.find_last_of('/');
    existing = slash == 0 ? "/" : existing.substr(0, slash);
  }
  if (existing != "/") KILN_RETURN_IF_ERROR(CheckAncestors(peer, existing));
  unsigned bits = PermBits(peer, st);
  if ((bits & 2) == 0) return Denied(peer, path, existing, "writable");
  if (S_ISDIR(st.st_mode) && (bits & 1) == 0) return Denied(peer, path, existing, "searchable");
  return absl::OkStatus();
}

}  // namespace kiln::engine::daemon
