// Rootless bootstrap: put the current process into its own user + mount namespace, the way
// rootlesskit does, so that an unprivileged process can own overlay mounts.
//
// Call EnterRootlessNamespace() early in main() (before any thread starts) when geteuid()!=0.
// It maps the caller's uid/gid to 0 and, when /etc/subuid and /etc/subgid give the user a
// range that newuidmap/newgidmap accept, maps ids 1..N to that range (full mapping, N>=65535).
// Otherwise it maps just the one id. Afterwards the process is uid 0 in the namespace, the
// mount tree is private, and files it creates belong to the user (or the subordinate range).
#ifndef KILN_BASE_USERNS_H_
#define KILN_BASE_USERNS_H_

#include <string>
#include <sys/types.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace kiln::base {

struct IdRange {
  uid_t start = 0;   // first subordinate id on the host
  uint32_t count = 0;
};

struct UserNamespaceInfo {
  bool entered = false;     // true if EnterRootlessNamespace created a namespace
  bool full_mapping = false;  // true if a subordinate range is mapped (ids 0..count)
  uid_t host_uid = 0;
  gid_t host_gid = 0;
  IdRange subuid;           // zero count when only one id is mapped
  IdRange subgid;
  std::string note;         // why the mapping is single, if it is ("no range for user X in /etc/subuid")
};

// Reads the first range for `user` (name or numeric uid) from an /etc/subuid-format file.
// NotFound if there is none.
absl::StatusOr<IdRange> LookupSubordinateRange(const std::string& file, const std::string& user,
                                               uid_t uid);

// See the file comment. FailedPrecondition if the process is multi-threaded or user
// namespaces are unavailable; newuidmap/newgidmap failures are reported with their own output.
absl::StatusOr<UserNamespaceInfo> EnterRootlessNamespace();

// True if the process is in a non-initial user namespace (its uid_map is not the identity
// "0 0 4294967295").
bool InUserNamespace();

// Number of uids mapped in the current user namespace (4294967295 in the initial one).
uint64_t MappedUidCount();

}  // namespace kiln::base

#endif  // KILN_BASE_USERNS_H_
