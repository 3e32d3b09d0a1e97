// Internal: everything the cloned child needs, prepared by the parent before clone.
//
// The child of a multi-threaded process may only make raw system calls, so every string,
// pointer array, buffer and the compiled seccomp filter live here, built in the parent. The
// child reads the plan (its copy-on-write copy) and writes only into `scratch` and the worker
// stack. Child-side code (*InChild) lives in *_child.cc files.
#ifndef KILN_SANDBOX_LAUNCH_PLAN_H_
#define KILN_SANDBOX_LAUNCH_PLAN_H_

#include <linux/filter.h>
#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "sandbox/init_protocol.h"

namespace kiln::sandbox::internal {

// Name of a step for error messages (report_status.cc).
const char* StepName(Step step);

enum class OpKind {
  kFsMount,         // fsopen(fstype) + fsconfig + fsmount, moved onto the target
  kBindHost,        // open_tree(host `source`) moved onto the target
  kRebindReadOnly,  // open_tree(target inside root), made read-only, moved back onto it
  kMask,            // a directory target gets a read-only tmpfs, anything else `source`
                    // (/dev/null) bound read-only over it (runc's masked paths)
  kMkdir,           // directory `target` (mode) inside the root
  kSymlink,         // symlink `target` -> `source`
};

struct MountOp {
  OpKind kind = OpKind::kFsMount;
  bool at_staging = false;  // target is the staging dir (the rootfs itself)
  std::string target;       // path inside the root, relative ("dev/pts")
  std::string fstype;       // kFsMount
  std::vector<std::pair<std::string, std::string>> strings;  // fsconfig SET_STRING
  std::vector<std::string> flags;                            // fsconfig SET_FLAG
  std::string source;           // kBindHost: host path; kSymlink: link text
  bool recursive = false;       // kBindHost/kRebindReadOnly: AT_RECURSIVE
  uint64_t attr = 0;            // MOUNT_ATTR_* for the new mount
  bool optional = false;        // missing target: skip (masked paths)
  bool target_is_file = false;  // create the target as an empty file
  unsigned mode = 0755;
  std::string describe;  // "mount tmpfs at '/dev'" for the parent's messages
};

struct UserRequest {
  bool is_root = true;  // "" or "0" or "root" with no group: skip the lookups
  std::string user;     // the user part
  bool user_numeric = false;
  uint64_t uid = 0;   // when numeric
  std::string group;  // the group part ("" = primary group)
  bool group_numeric = false;
  uint64_t gid = 0;
};

struct LaunchPlan {
  // Child ends of the pipes (parent fd numbers; the child moves them).
  int report_fd = -1;
  int sync_fd = -1;
  int stdout_fd = -1;
  int stderr_fd = -1;
  int init_image_fd = -1;  // the Sandbox's sealed kiln-init memfd

  std::string staging;  // host directory the rootfs is mounted on (in the child's mount ns)
  std::vector<MountOp> ops;
  std::string hostname;
  bool loopback_up = false;
  // The init reads a second byte from the sync pipe after its set-up, before it starts the
  // worker: the network helper, started while the init sets up, is ready (kDefault).
  bool wait_for_network = false;

  UserRequest user;
  bool setgroups_allowed = true;
  uint64_t mapped_uids = 0;
  uint64_t mapped_gids = 0;
  std::string cwd;  // relative to the root ("" = "/")

  std::vector<std::string> exec_candidates;  // absolute paths to try in order
  std::vector<std::string> argv_storage;
  std::vector<std::string> env_storage;
  std::vector<char*> argv;  // NULL-terminated, into argv_storage
  std::vector<char*> envp;

  std::vector<std::pair<int, rlimit>> rlimits;
  uint64_t cap_mask = 0;
  int last_cap = 40;
  sock_fprog filter{};

  // Left uninitialised on purpose (no page faults for memory the run never touches).
  std::unique_ptr<char[]> scratch;  // file buffer for /etc/passwd and /etc/group
  size_t scratch_size = 0;
  std::unique_ptr<char[]> worker_stack;  // stack of the CLONE_VM worker (pid 2)
  size_t worker_stack_size = 0;
};

// Child side, defined in *_child.cc. Never return.
[[noreturn]] void InitMainInChild(LaunchPlan& plan);

}  // namespace kiln::sandbox::internal

#endif  // KILN_SANDBOX_LAUNCH_PLAN_H_
