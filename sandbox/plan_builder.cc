#include "sandbox/plan_builder.h"

#include <linux/mount.h>
#include <sys/stat.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "base/status.h"

namespace kiln::sandbox::internal {
namespace {

constexpr size_t kScratchSize = 256 * 1024;
constexpr size_t kWorkerStackSize = 256 * 1024;
constexpr char kDefaultPath[] = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

// runc's default masked and read-only paths.
const char* const kMaskedPaths[] = {
    "proc/acpi",          "proc/asound",     "proc/interrupts",  "proc/kcore",       "proc/keys",
    "proc/latency_stats", "proc/timer_list", "proc/timer_stats", "proc/sched_debug", "proc/scsi",
};
const char* const kMaskedSysPaths[] = {"sys/firmware", "sys/devices/virtual/powercap"};
const char* const kReadOnlyPaths[] = {"proc/bus", "proc/fs", "proc/irq", "proc/sys",
                                      "proc/sysrq-trigger"};
const char* const kDevices[] = {"null", "zero", "full", "random", "urandom", "tty"};

constexpr uint64_t kNoSuidDevExec = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC;

bool IsDigits(const std::string& s) {
  if (s.empty() || s.size() > 10) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

// "/a/b/" -> "a/b"; InvalidArgument if not absolute.
absl::StatusOr<std::string> InRootPath(const std::string& path, const char* what) {
  if (path.empty() || path[0] != '/') {
    return absl::InvalidArgumentError(
        absl::StrCat("sandbox: ", what, " '", path, "': must be an absolute path"));
  }
  std::vector<std::string> parts;
  for (absl::string_view p : absl::StrSplit(path, '/', absl::SkipEmpty())) {
    if (p != ".") parts.emplace_back(p);
  }
  return absl::StrJoin(parts, "/");
}

MountOp FsOp(std::string fstype, std::string target, uint64_t attr) {
  MountOp op;
  op.kind = OpKind::kFsMount;
  op.fstype = std::move(fstype);
  op.target = std::move(target);
  op.attr = attr;
  op.describe = absl::StrCat("mount ", op.fstype, " at '/", op.target, "'");
  return op;
}

MountOp BindOp(std::string source, std::string target, uint64_t attr, bool file) {
  MountOp op;
  op.kind = OpKind::kBindHost;
  op.source = std::move(source);
  op.target = std::move(target);
  op.attr = attr;
  op.target_is_file = file;
  op.describe = absl::StrCat("bind '", op.source, "' at '/", op.target, "'");
  return op;
}

MountOp MaskOp(const char* path) {
  MountOp op = FsOp("tmpfs", path, MOUNT_ATTR_RDONLY | kNoSuidDevExec);
  op.kind = OpKind::kMask;
  op.strings = {{"source", "tmpfs"}};
  op.source = "/dev/null";
  op.optional = true;
  op.describe = absl::StrCat("mask '/", path, "'");
  return op;
}

// Converts a mount description. `target` "" with at_staging for the rootfs.
absl::StatusOr<MountOp> FromDescription(const base::Mount& m, const std::string& target,
                                        bool at_staging) {
  MountOp op;
  op.at_staging = at_staging;
  op.target = target;
  bool bind = m.type == "bind" || m.type == "rbind";
  op.kind = bind ? OpKind::kBindHost : OpKind::kFsMount;
  op.recursive = m.type == "rbind";
  if (bind) {
    op.source = m.source;
    struct stat st;
    if (::stat(m.source.c_str(), &st) != 0) {
      return base::ErrnoError(absl::StrCat("sandbox: bind source '", m.source, "'"));
    }
    op.target_is_file = !S_ISDIR(st.st_mode);
  } else {
    op.fstype = m.type;
    if (!m.source.empty()) op.strings.emplace_back("source", m.source);
  }
  bool has_userxattr = false;
  for (const std::string& o : m.options) {
    if (o == "ro")
      op.attr |= MOUNT_ATTR_RDONLY;
    else if (o == "nosuid")
      op.attr |= MOUNT_ATTR_NOSUID;
    else if (o == "nodev")
      op.attr |= MOUNT_ATTR_NODEV;
    else if (o == "noexec")
      op.attr |= MOUNT_ATTR_NOEXEC;
    else if (o == "rw" || o == "bind" || o == "private" || o == "rprivate")
      continue;
    else if (o == "rbind")
      op.recursive = true;
    else if (bind) {
      return absl::InvalidArgumentError(
          absl::StrCat("sandbox: bind mount of '", m.source, "': unknown option '", o,
                       "', expected ro, rw, rbind, nosuid, nodev or noexec"));
    } else if (size_t eq = o.find('='); eq != std::string::npos) {
      op.strings.emplace_back(o.substr(0, eq), o.substr(eq + 1));
    } else {
      has_userxattr |= o == "userxattr";
      op.flags.push_back(o);
    }
  }
  if (m.type == "overlay" && !has_userxattr) op.flags.push_back("userxattr");
  if (m.type.empty()) return absl::InvalidArgumentError("sandbox: mount with an empty type");
  op.describe = bind ? absl::StrCat("bind '", m.source, "' at '/", target, "'")
                     : absl::StrCat("mount ", m.type, " at '/", target, "'");
  return op;
}

void AddProcAndDev(const PlanContext& ctx, bool own_netns, std::vector<MountOp>* ops) {
  ops->push_back(FsOp("proc", "proc", kNoSuidDevExec));
  for (const char* p : kMaskedPaths) {
    ops->push_back(MaskOp(p));
  }
  for (const char* p : kReadOnlyPaths) {
    MountOp op;
    op.kind = OpKind::kRebindReadOnly;
    op.target = p;
    op.recursive = true;
    op.optional = true;
    op.attr = MOUNT_ATTR_RDONLY | kNoSuidDevExec;
    op.describe = absl::StrCat("make '/", p, "' read-only");
    ops->push_back(op);
  }
  MountOp dev = FsOp("tmpfs", "dev", MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC);
  dev.strings = {{"source", "tmpfs"}, {"mode", "755"}, {"size", "65536k"}};
  ops->push_back(dev);
  for (const char* d : kDevices) {
    ops->push_back(BindOp(absl::StrCat("/dev/", d), absl::StrCat("dev/", d),
                          MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC, true));
  }
  MountOp pts = FsOp("devpts", "dev/pts", MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC);
  pts.strings = {{"source", "devpts"}, {"ptmxmode", "0666"}, {"mode", "0620"}};
  if (ctx.mapping->MapsGid(5)) pts.strings.emplace_back("gid", "5");
  pts.flags = {"newinstance"};
  ops->push_back(pts);
  MountOp shm = FsOp("tmpfs", "dev/shm", kNoSuidDevExec);
  shm.strings = {{"source", "shm"}, {"mode", "1777"}, {"size", "65536k"}};
  ops->push_back(shm);
  const std::pair<const char*, const char*> links[] = {
      {"dev/fd", "/proc/self/fd"},       {"dev/stdin", "/proc/self/fd/0"},
      {"dev/stdout", "/proc/self/fd/1"}, {"dev/stderr", "/proc/self/fd/2"},
      {"dev/ptmx", "pts/ptmx"},          {"dev/core", "/proc/kcore"}};
  for (const auto& [link, text] : links) {
    MountOp op;
    op.kind = OpKind::kSymlink;
    op.target = link;
    op.source = text;
    op.describe = absl::StrCat("symlink '/", link, "'");
    ops->push_back(op);
  }
  if (own_netns) {
    ops->push_back(FsOp("sysfs", "sys", MOUNT_ATTR_RDONLY | kNoSuidDevExec));
    ops->back().strings = {{"source", "sysfs"}};
    for (const char* p : kMaskedSysPaths) ops->push_back(MaskOp(p));
  }
}

absl::Status AddEtcFiles(const Spec& spec, const PlanContext& ctx, std::vector<MountOp>* ops) {
  const std::string& resolv = ctx.resolv_conf.empty() ? spec.resolv_conf : ctx.resolv_conf;
  const std::pair<std::string, const char*> files[] = {{resolv, "resolv.conf"},
                                                       {spec.hosts, "hosts"}};
  for (const auto& [given, name] : files) {
    std::string source = given.empty() ? absl::StrCat("/etc/", name) : given;
    struct stat st;
    if (::stat(source.c_str(), &st) != 0) {
      if (given.empty()) continue;  // the host has none: skip
      return base::ErrnoError(absl::StrCat("sandbox: /etc/", name, " source '", source, "'"));
    }
    ops->push_back(
        BindOp(source, absl::StrCat("etc/", name), MOUNT_ATTR_RDONLY | kNoSuidDevExec, true));
  }
  return absl::OkStatus();
}

void SetExec(const Spec& spec, LaunchPlan* plan) {
  const std::string& cmd = spec.argv[0];
  if (cmd.find('/') != std::string::npos) {
    plan->exec_candidates = {cmd};
  } else {
    std::string path = kDefaultPath;
    for (const std::string& e : spec.env) {
      if (absl::StartsWith(e, "PATH=")) path = e.substr(5);
    }
    for (absl::string_view dir : absl::StrSplit(path, ':', absl::SkipEmpty())) {
      if (dir[0] == '/') plan->exec_candidates.push_back(absl::StrCat(dir, "/", cmd));
    }
  }
  plan->argv_storage = spec.argv;
  plan->env_storage = spec.env;
  for (std::string& a : plan->argv_storage) plan->argv.push_back(a.data());
  plan->argv.push_back(nullptr);
  for (std::string& e : plan->env_storage) plan->envp.push_back(e.data());
  plan->envp.push_back(nullptr);
}

}  // namespace

absl::StatusOr<UserRequest> ParseUserSpec(const std::string& user) {
  UserRequest r;
  if (user.empty()) {
    r.user_numeric = true;
    return r;
  }
  size_t colon = user.find(':');
  r.user = user.substr(0, colon);
  if (colon != std::string::npos) r.group = user.substr(colon + 1);
  if (r.user.empty() || (colon != std::string::npos && r.group.empty())) {
    return absl::InvalidArgumentError(
        absl::StrCat("sandbox: user '", user, "': expected name, uid, uid:gid or name:group"));
  }
  r.user_numeric = IsDigits(r.user);
  if (r.user_numeric) r.uid = std::stoull(r.user);
  r.group_numeric = IsDigits(r.group);
  if (r.group_numeric) r.gid = std::stoull(r.group);
  r.is_root = r.user_numeric && r.uid == 0 && r.group.empty();
  return r;
}

absl::Status BuildLaunchPlan(const Spec& spec, const PlanContext& ctx, LaunchPlan* plan) {
  if (spec.argv.empty() || spec.argv[0].empty()) {
    return absl::InvalidArgumentError("sandbox: spec: empty argv, expected a command");
  }
  if (spec.rootfs.empty()) {
    return absl::InvalidArgumentError("sandbox: spec: no rootfs mounts");
  }
  KILN_ASSIGN_OR_RETURN(plan->user, ParseUserSpec(spec.user));
  KILN_ASSIGN_OR_RETURN(plan->cwd, InRootPath(spec.cwd, "cwd"));
  plan->staging = ctx.staging;
  for (const base::Mount& m : spec.rootfs) {
    KILN_ASSIGN_OR_RETURN(MountOp op, FromDescription(m, "", true));
    op.describe = absl::StrCat("mount rootfs ", op.describe.substr(0, op.describe.find(" at ")));
    plan->ops.push_back(std::move(op));
  }
  bool own_netns = spec.network != NetworkMode::kHost;
  AddProcAndDev(ctx, own_netns, &plan->ops);
  KILN_RETURN_IF_ERROR(AddEtcFiles(spec, ctx, &plan->ops));
  for (const MountPoint& mp : spec.mounts) {
    KILN_ASSIGN_OR_RETURN(std::string target, InRootPath(mp.target, "mount target"));
    KILN_ASSIGN_OR_RETURN(MountOp op, FromDescription(mp.mount, target, false));
    plan->ops.push_back(std::move(op));
  }
  plan->hostname = spec.hostname.empty() ? "kiln" : spec.hostname;
  plan->loopback_up = own_netns;
  plan->setgroups_allowed = !ctx.mapping->deny_setgroups;
  plan->mapped_uids = ctx.mapping->mapped_uids;
  plan->mapped_gids = ctx.mapping->mapped_gids;
  SetExec(spec, plan);
  for (const Rlimit& r : spec.rlimits) plan->rlimits.push_back({r.resource, {r.soft, r.hard}});
  if (ctx.limits->layer == LimitLayer::kRlimit) {
    if (spec.pids_max > 0) {
      auto n = static_cast<rlim_t>(spec.pids_max);
      plan->rlimits.push_back({RLIMIT_NPROC, {n, n}});
    }
    if (spec.memory_max_bytes > 0) {
      auto n = static_cast<rlim_t>(spec.memory_max_bytes);
      plan->rlimits.push_back({RLIMIT_AS, {n, n}});
    }
  }
  plan->cap_mask = ctx.cap_mask;
  plan->last_cap = ctx.last_cap;
  plan->filter.len = static_cast<unsigned short>(ctx.filter->instructions.size());
  plan->filter.filter = const_cast<sock_filter*>(ctx.filter->instructions.data());
  plan->scratch.reset(new char[kScratchSize]);
  plan->scratch_size = kScratchSize;
  plan->worker_stack.reset(new char[kWorkerStackSize]);
  plan->worker_stack_size = kWorkerStackSize;
  return absl::OkStatus();
}

}  // namespace kiln::sandbox::internal
