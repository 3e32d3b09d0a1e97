// Internal: turns a Spec into a LaunchPlan (parent side, before clone), and a child's report
// into a Status.
#ifndef KILN_SANDBOX_PLAN_BUILDER_H_
#define KILN_SANDBOX_PLAN_BUILDER_H_

#include <string>

#include "absl/status/status.h"
#include "sandbox/id_mapping.h"
#include "sandbox/launch_plan.h"
#include "sandbox/limits.h"
#include "sandbox/seccomp_policy.h"
#include "sandbox/spec.h"

namespace kiln::sandbox::internal {

struct PlanContext {
  const IdMapping* mapping = nullptr;
  const LimitProbe* limits = nullptr;
  uint64_t cap_mask = 0;
  int last_cap = 40;
  const SeccompProgram* filter = nullptr;  // must outlive the plan
  std::string staging;
  std::string resolv_conf;  // overrides spec.resolv_conf when not empty
};

// Fills `plan` (except the pipe fds). InvalidArgument for a bad spec or mount description.
absl::Status BuildLaunchPlan(const Spec& spec, const PlanContext& ctx, LaunchPlan* plan);

// Parses "name", "uid", "uid:gid", "name:group", ... InvalidArgument for an empty part.
absl::StatusOr<UserRequest> ParseUserSpec(const std::string& user);

// The Status for a child's error report.
absl::Status ReportToStatus(const ChildReport& report, const LaunchPlan& plan, const Spec& spec,
                            const IdMapping& mapping);

}  // namespace kiln::sandbox::internal

#endif  // KILN_SANDBOX_PLAN_BUILDER_H_
