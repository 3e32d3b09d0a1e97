// IdMapping: how a run's new user namespace is mapped, decided once per process from who we
// are, and written for each new namespace from the parent side.
//
// Three situations:
//  - kRootIdentity: real root (euid 0, initial user namespace): 0..65535 -> 0..65535.
//  - kSubordinateRange: unprivileged, /etc/subuid and /etc/subgid give a range that
//    newuidmap/newgidmap accept: 0 -> the user, 1..65535 -> the range.
//  - kSingleId: unprivileged without a range: the user's id -> 0 only (setgroups denied).
//  - kNested: already inside a (rootless-bootstrapped) user namespace as uid 0: the ids mapped
//    there, mapped identically.
#ifndef KILN_SANDBOX_ID_MAPPING_H_
#define KILN_SANDBOX_ID_MAPPING_H_

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace kiln::sandbox {

enum class IdMappingMode { kRootIdentity, kSubordinateRange, kSingleId, kNested };

const char* IdMappingModeName(IdMappingMode mode);

struct IdMapping {
  IdMappingMode mode = IdMappingMode::kSingleId;
  std::string uid_map;  // /proc/PID/uid_map content ("inside outside count\n"...)
  std::string gid_map;
  bool deny_setgroups = false;
  // For kSubordinateRange: the newuidmap/newgidmap arguments after the pid.
  std::vector<std::string> newuidmap_args;
  std::vector<std::string> newgidmap_args;
  uint64_t mapped_uids = 0;  // how many ids the run sees (65536 or 1, ...)
  uint64_t mapped_gids = 0;
  uid_t host_uid = 0;
  std::string user_name;  // of host_uid, for messages
  std::string note;       // why the mapping is single, when it is

  // True if uid/gid `id` is mapped inside the run.
  bool MapsUid(uint64_t id) const { return id < mapped_uids; }
  bool MapsGid(uint64_t id) const { return id < mapped_gids; }
  // The FailedPrecondition text for a user that needs an unmapped id (names the missing
  // subordinate range and the usermod command that adds one).
  std::string UnmappedIdMessage(const std::string& user_spec, uint64_t uid, uint64_t gid) const;
};

// Decides the mapping for this process. `subuid_file`/`subgid_file` default to /etc/subuid and
// /etc/subgid. Never fails for a missing range (that gives kSingleId with a note); errors are
// for unreadable /proc/self/uid_map.
absl::StatusOr<IdMapping> DetectIdMapping(const std::string& subuid_file = "/etc/subuid",
                                          const std::string& subgid_file = "/etc/subgid");

// Writes the maps of `pid` (a child just cloned with CLONE_NEWUSER) from the parent side.
// Thread-safe (spawns newuidmap/newgidmap with posix_spawn). A failing newuidmap is reported
// with its exit status and stderr: "newuidmap 1234 0 1001 1 ...: exit status 1: <stderr>".
absl::Status WriteIdMapsFromParent(const IdMapping& mapping, pid_t pid);

}  // namespace kiln::sandbox

#endif  // KILN_SANDBOX_ID_MAPPING_H_
