// Child side: the mount steps of a run (rootfs, /proc, /dev, /sys, files, extra mounts), made
// with the new mount API on targets resolved inside the root (openat2 RESOLVE_IN_ROOT).
#include <linux/mount.h>
#include <sys/stat.h>

#include "sandbox/child_syscalls.h"

namespace kiln::sandbox::internal {
namespace {

constexpr size_t kPathMax = 4096;

// Splits `path` into parent (into `parent`, "" for the root) and returns the last component.
const char* SplitParentInChild(const char* path, char* parent) {
  size_t len = CStrCopy(parent, kPathMax, path);
  size_t slash = len;
  while (slash > 0 && parent[slash - 1] != '/') --slash;
  const char* base = path + slash;
  parent[slash > 0 ? slash - 1 : 0] = '\0';
  return base;
}

// Reads the fs context's error log (if any) into `detail`.
void ReadFsLogInChild(int fsfd, char* detail, size_t cap) {
  if (fsfd < 0) return;
  ssize_t n = syscall(SYS_read, fsfd, detail, cap - 1);
  detail[n > 0 ? n : 0] = '\0';
}

// Resolves (or creates) the target of `op`. Returns an O_PATH fd, -2 for an optional target
// that is missing, or fails the child.
int ResolveTargetInChild(int rootfd, const MountOp& op, int32_t index) {
  const char* path = op.target.c_str();
  int fd = OpenInRootInChild(rootfd, path, O_PATH);
  if (fd >= 0) return fd;
  if (errno != ENOENT) FailInChild(Step::kMount, errno, index);
  if (op.optional) return -2;
  if (!op.target_is_file) {
    int rc = MkdirAllInChild(rootfd, path, 0755);
    if (rc < 0) FailInChild(Step::kMount, -rc, index);
  } else {
    char parent[kPathMax];
    const char* base = SplitParentInChild(path, parent);
    int rc = MkdirAllInChild(rootfd, parent, 0755);
    if (rc < 0) FailInChild(Step::kMount, -rc, index);
    int pfd = OpenInRootInChild(rootfd, parent, O_PATH | O_DIRECTORY);
    if (pfd < 0) FailInChild(Step::kMount, errno, index);
    int ffd = static_cast<int>(
        syscall(SYS_openat, pfd, base, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0644));
    if (ffd < 0 && errno != EEXIST) FailInChild(Step::kMount, errno, index);
    CloseInChild(ffd);
    CloseInChild(pfd);
  }
  fd = OpenInRootInChild(rootfd, path, O_PATH);
  if (fd < 0) FailInChild(Step::kMount, errno, index);
  return fd;
}

int SetAttrInChild(int mfd, uint64_t attr, bool recursive) {
  if (attr == 0) return 0;
  mount_attr ma;
  ZeroBytes(&ma, sizeof(ma));
  ma.attr_set = attr;
  return static_cast<int>(syscall(SYS_mount_setattr, mfd, "",
                                  AT_EMPTY_PATH | (recursive ? AT_RECURSIVE : 0), &ma, sizeof(ma)));
}

// Creates the detached mount for `op`. Returns its fd or fails the child.
int MakeFsMountInChild(const MountOp& op, int32_t index) {
  char detail[200];
  detail[0] = '\0';
  int fsfd = static_cast<int>(syscall(SYS_fsopen, op.fstype.c_str(), FSOPEN_CLOEXEC));
  if (fsfd < 0) FailInChild(Step::kMount, errno, index, "fsopen");
  for (const auto& [key, value] : op.strings) {
    if (syscall(SYS_fsconfig, fsfd, FSCONFIG_SET_STRING, key.c_str(), value.c_str(), 0) < 0) {
      int err = errno;
      ReadFsLogInChild(fsfd, detail, sizeof(detail));
      FailInChild(Step::kMount, err, index, detail[0] ? detail : key.c_str());
    }
  }
  for (const std::string& flag : op.flags) {
    if (syscall(SYS_fsconfig, fsfd, FSCONFIG_SET_FLAG, flag.c_str(), nullptr, 0) < 0) {
      int err = errno;
      ReadFsLogInChild(fsfd, detail, sizeof(detail));
      FailInChild(Step::kMount, err, index, detail[0] ? detail : flag.c_str());
    }
  }
  if (syscall(SYS_fsconfig, fsfd, FSCONFIG_CMD_CREATE, nullptr, nullptr, 0) < 0) {
    int err = errno;
    ReadFsLogInChild(fsfd, detail, sizeof(detail));
    FailInChild(Step::kMount, err, index, detail);
  }
  int mfd = static_cast<int>(syscall(SYS_fsmount, fsfd, FSMOUNT_CLOEXEC, op.attr));
  if (mfd < 0) FailInChild(Step::kMount, errno, index, "fsmount");
  CloseInChild(fsfd);
  return mfd;
}

void RunOneOpInChild(const LaunchPlan& plan, const MountOp& op, int rootfd, int32_t index) {
  if (op.kind == OpKind::kMkdir) {
    int rc = MkdirAllInChild(rootfd, op.target.c_str(), op.mode);
    if (rc < 0) FailInChild(Step::kMount, -rc, index);
    return;
  }
  if (op.kind == OpKind::kSymlink) {
    char parent[kPathMax];
    const char* base = SplitParentInChild(op.target.c_str(), parent);
    int pfd = OpenInRootInChild(rootfd, parent, O_PATH | O_DIRECTORY);
    if (pfd < 0) FailInChild(Step::kMount, errno, index);
    if (syscall(SYS_symlinkat, op.source.c_str(), pfd, base) < 0 && errno != EEXIST) {
      FailInChild(Step::kMount, errno, index);
    }
    CloseInChild(pfd);
    return;
  }
  int tfd = -1;
  if (!op.at_staging) {
    tfd = ResolveTargetInChild(rootfd, op, index);
    if (tfd == -2) return;
  }
  bool fs = op.kind == OpKind::kFsMount;
  if (op.kind == OpKind::kMask) {
    struct stat st;
    if (syscall(SYS_fstat, tfd, &st) < 0) FailInChild(Step::kMount, errno, index);
    fs = S_ISDIR(st.st_mode);
  }
  int mfd = -1;
  if (fs) {
    mfd = MakeFsMountInChild(op, index);
  } else {
    unsigned flags = OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | (op.recursive ? AT_RECURSIVE : 0);
    if (op.kind == OpKind::kBindHost || op.kind == OpKind::kMask) {
      mfd = static_cast<int>(syscall(SYS_open_tree, AT_FDCWD, op.source.c_str(), flags));
    } else {
      mfd = static_cast<int>(syscall(SYS_open_tree, tfd, "", flags | AT_EMPTY_PATH));
    }
    if (mfd < 0) FailInChild(Step::kMount, errno, index, "open_tree");
    if (SetAttrInChild(mfd, op.attr, op.recursive) < 0) {
      FailInChild(Step::kMount, errno, index, "mount_setattr");
    }
  }
  long rc = op.at_staging ? syscall(SYS_move_mount, mfd, "", AT_FDCWD, plan.staging.c_str(),
                                    MOVE_MOUNT_F_EMPTY_PATH)
                          : syscall(SYS_move_mount, mfd, "", tfd, "",
                                    MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH);
  if (rc < 0) FailInChild(Step::kMount, errno, index, "move_mount");
  CloseInChild(mfd);
  CloseInChild(tfd);
}

}  // namespace

int MkdirAllInChild(int rootfd, const char* path, unsigned mode) {
  char buf[kPathMax];
  size_t len = CStrCopy(buf, sizeof(buf), path);
  if (len + 1 >= sizeof(buf)) return -ENAMETOOLONG;
  size_t start = 0;
  for (size_t i = 0; i <= len; ++i) {
    if (i < len && buf[i] != '/') continue;
    if (i == start) {  // empty component
      start = i + 1;
      continue;
    }
    char saved = buf[i];
    buf[i] = '\0';
    int fd = OpenInRootInChild(rootfd, buf, O_PATH | O_DIRECTORY);
    if (fd < 0) {
      if (errno != ENOENT) return -errno;
      char parent[kPathMax];
      CStrCopy(parent, sizeof(parent), buf);
      parent[start > 0 ? start - 1 : 0] = '\0';
      int pfd = OpenInRootInChild(rootfd, parent, O_PATH | O_DIRECTORY);
      if (pfd < 0) return -errno;
      long rc = syscall(SYS_mkdirat, pfd, buf + start, mode);
      int err = errno;
      CloseInChild(pfd);
      if (rc < 0 && err != EEXIST) return -err;
      fd = OpenInRootInChild(rootfd, buf, O_PATH | O_DIRECTORY);
      if (fd < 0) return -errno;
    }
    CloseInChild(fd);
    buf[i] = saved;
    start = i + 1;
  }
  return 0;
}

void RunMountOpsInChild(const LaunchPlan& plan) {
  int rootfd = -1;
  for (size_t i = 0; i < plan.ops.size(); ++i) {
    const MountOp& op = plan.ops[i];
    if (!op.at_staging && rootfd < 0) {
      rootfd = static_cast<int>(
          syscall(SYS_openat, AT_FDCWD, plan.staging.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
      if (rootfd < 0) FailInChild(Step::kMount, errno, static_cast<int32_t>(i), "open rootfs");
    }
    RunOneOpInChild(plan, op, rootfd, static_cast<int32_t>(i));
  }
  CloseInChild(rootfd);
}

}  // namespace kiln::sandbox::internal
