#include "sandbox/worker_facts.h"

#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "base/status.h"
#include "base/temp_dir.h"

namespace kiln::sandbox {
namespace {

// A full run on an overlay over empty dirs: it mounts everything, then exec fails with
// NotFound. Any other outcome is the self-test's error.
absl::Status SelfTest(const Sandbox& sandbox, bool* overlay_ok, std::string* overlay_note) {
  KILN_ASSIGN_OR_RETURN(base::TempDir dir, base::TempDir::Create("kiln-sandbox-selftest-"));
  for (const char* d : {"/lower", "/upper", "/work"}) {
    std::string p = dir.path() + d;
    if (::mkdir(p.c_str(), 0755) != 0) return base::ErrnoError("mkdir '" + p + "'");
  }
  Spec spec;
  spec.argv = {"/kiln-self-test-no-such-binary"};
  spec.rootfs = {
      base::Mount{"overlay",
                  "overlay",
                  {"lowerdir+=" + dir.path() + "/lower", "upperdir=" + dir.path() + "/upper",
                   "workdir=" + dir.path() + "/work"}}};
  spec.timeout = absl::Seconds(10);
  absl::StatusOr<Result> r = sandbox.Run(spec);
  if (!r.ok() && r.status().code() == absl::StatusCode::kNotFound &&
      absl::StrContains(r.status().message(), "exec")) {
    *overlay_ok = true;
    return absl::OkStatus();
  }
  absl::Status s = r.ok() ? absl::InternalError("a missing binary ran") : r.status();
  if (absl::StrContains(s.message(), "rootfs")) {
    *overlay_note = std::string(s.message());
  }
  return s;
}

}  // namespace

absl::StatusOr<WorkerFacts> ProbeWorkerFacts(const Sandbox& sandbox) {
  WorkerFacts f;
  const IdMapping& m = sandbox.id_mapping();
  f.euid = ::geteuid();
  f.rootless = !(m.mode == IdMappingMode::kRootIdentity);
  f.id_mapping = m.mode;
  f.mapped_uids = m.mapped_uids;
  f.mapped_gids = m.mapped_gids;
  f.full_mapping = m.mapped_uids >= 65536 && m.mapped_gids >= 65536;
  f.uid_map = m.mode == IdMappingMode::kSubordinateRange
                  ? absl::StrCat("0 ", m.newuidmap_args[1], " 1\n1 ", m.newuidmap_args[4], " ",
                                 m.newuidmap_args[5], "\n")
                  : m.uid_map;
  f.gid_map = m.mode == IdMappingMode::kSubordinateRange
                  ? absl::StrCat("0 ", m.newgidmap_args[1], " 1\n1 ", m.newgidmap_args[4], " ",
                                 m.newgidmap_args[5], "\n")
                  : m.gid_map;
  f.mapping_note = m.note;
  f.network_modes = {"default", "none", "host"};
  const NetworkHelper& net = sandbox.network_helper();
  f.network_helper = net.description().empty() ? "none found" : net.description();
  f.network_helper_check = net.usable() ? "ok" : net.problem();
  if (!net.self_test_note().empty()) {
    f.network_helper = absl::StrCat(f.network_helper, " ", net.self_test_note());
  }
  if (net.usable()) {
    absl::Status helper_test = net.SelfTest();
    f.network_helper_self_test = helper_test.ok() ? "ok" : std::string(helper_test.message());
  } else {
    f.network_helper_self_test = net.self_test().empty() ? "not run" : net.self_test();
  }
  f.capabilities = sandbox.capabilities().Names();
  f.seccomp = absl::StrCat("docker-default, ", sandbox.seccomp_instructions(),
                           " BPF instructions, default ERRNO(EPERM)");
  f.limit_layer = sandbox.limits().layer;
  f.limit_note = sandbox.limits().why;
  f.sys_mount =
      "network default and none: fresh sysfs, read-only; network host: absent (sysfs needs a "
      "network "
      "namespace owned by the run's user namespace)";
  utsname u;
  if (::uname(&u) == 0) f.kernel = u.release;
  absl::Status self = SelfTest(sandbox, &f.overlay, &f.overlay_note);
  f.self_test = self.ok() ? "ok" : std::string(self.message());
  return f;
}

}  // namespace kiln::sandbox
