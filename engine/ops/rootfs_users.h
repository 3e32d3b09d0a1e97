// Resolves "user[:group]" (names or numbers) against a mounted rootfs's /etc/passwd and
// /etc/group, reading them inside the root (RESOLVE_IN_ROOT), as Docker does for --chown.
#ifndef KILN_ENGINE_OPS_ROOTFS_USERS_H_
#define KILN_ENGINE_OPS_ROOTFS_USERS_H_

#include <sys/types.h>

#include <string_view>

#include "absl/status/statusor.h"

namespace kiln::engine {

struct Owner {
  uid_t uid = 0;
  gid_t gid = 0;
};

// A numeric user without a group takes gid = uid (Docker's --chown rule); a named user
// without a group takes the user's primary group. InvalidArgument for unknown names.
absl::StatusOr<Owner> ResolveOwner(int root_fd, std::string_view spec);

}  // namespace kiln::engine

#endif  // KILN_ENGINE_OPS_ROOTFS_USERS_H_
