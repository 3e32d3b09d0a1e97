// Parent side: turns a child's (step, errno) report into a Status.
#include <cerrno>

#include "absl/strings/str_cat.h"
#include "base/status.h"
#include "sandbox/plan_builder.h"

namespace kiln::sandbox::internal {

const char* StepName(Step step) {
  switch (step) {
    case Step::kSetupFds:
      return "set up fds";
    case Step::kWaitParent:
      return "wait for parent";
    case Step::kMakePrivate:
      return "make / private";
    case Step::kMount:
      return "mount";
    case Step::kHostname:
      return "sethostname";
    case Step::kLoopback:
      return "bring lo up";
    case Step::kPivotRoot:
      return "pivot_root";
    case Step::kResolveUser:
      return "resolve user";
    case Step::kUnmappedUser:
      return "switch user";
    case Step::kWorkdir:
      return "workdir";
    case Step::kSignals:
      return "reset signals";
    case Step::kSpawnWorker:
      return "start process";
    case Step::kSetsid:
      return "setsid";
    case Step::kBoundingSet:
      return "drop bounding capabilities";
    case Step::kSetgroups:
      return "setgroups";
    case Step::kSetgid:
      return "setgid";
    case Step::kSetuid:
      return "setuid";
    case Step::kCapset:
      return "capset";
    case Step::kAmbient:
      return "clear ambient capabilities";
    case Step::kRlimit:
      return "setrlimit";
    case Step::kNoNewPrivs:
      return "no_new_privs";
    case Step::kSeccomp:
      return "install seccomp filter";
    case Step::kCloseFds:
      return "close fds";
    case Step::kExec:
      return "exec";
    case Step::kExecInit:
      return "exec kiln-init";
    case Step::kStartInit:
      return "start kiln-init";
  }
  return "?";
}

absl::Status ReportToStatus(const ChildReport& r, const LaunchPlan& plan, const Spec& spec,
                            const IdMapping& mapping) {
  std::string detail(r.detail, strnlen(r.detail, sizeof(r.detail)));
  while (!detail.empty() && (detail.back() == '\n' || detail.back() == '\0')) detail.pop_back();
  switch (r.step) {
    case Step::kUnmappedUser:
      return absl::FailedPreconditionError(mapping.UnmappedIdMessage(
          spec.user, static_cast<uint64_t>(r.value), static_cast<uint64_t>(r.value2)));
    case Step::kSetuid:
    case Step::kSetgid:
    case Step::kSetgroups:
      if (r.err == EINVAL || (r.err == EPERM && mapping.deny_setgroups)) {
        return absl::FailedPreconditionError(mapping.UnmappedIdMessage(
            spec.user, static_cast<uint64_t>(r.value), static_cast<uint64_t>(r.value2)));
      }
      break;
    case Step::kResolveUser:
      if (r.err == ENOENT && (r.index == 1 || r.index == 2)) {
        return absl::NotFoundError(absl::StrCat(
            "sandbox: unable to find ", r.index == 1 ? "user" : "group", " '", detail,
            "': no matching entries in the rootfs's /etc/", r.index == 1 ? "passwd" : "group"));
      }
      break;
    case Step::kExec:
      if (r.err == ENOENT) {
        return absl::NotFoundError(
            absl::StrCat("sandbox: exec '", detail, "': executable file not found in $PATH"));
      }
      return base::ErrnoError(r.err, absl::StrCat("sandbox: exec '", detail, "'"));
    case Step::kMount:
      if (r.index >= 0 && static_cast<size_t>(r.index) < plan.ops.size()) {
        std::string what = absl::StrCat("sandbox: ", plan.ops[r.index].describe);
        if (!detail.empty()) absl::StrAppend(&what, " (", detail, ")");
        return base::ErrnoError(r.err, what);
      }
      break;
    default:
      break;
  }
  std::string what = absl::StrCat("sandbox: ", StepName(r.step));
  if (!detail.empty()) absl::StrAppend(&what, " '", detail, "'");
  return base::ErrnoError(r.err, what);
}

}  // namespace kiln::sandbox::internal
