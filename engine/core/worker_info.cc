#include "engine/core/worker_info.h"

#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "sandbox/sandbox.h"
#include "sandbox/worker_facts.h"

namespace kiln::engine {
namespace {

// "0 1000 1\n1 100000 65535\n" -> "0 1000 1,1 100000 65535".
std::string OneLine(std::string map) {
  while (!map.empty() && map.back() == '\n') map.pop_back();
  for (char& c : map) {
    if (c == '\n') c = ',';
  }
  return map;
}

}  // namespace

WorkerInfo DescribeWorker(const sandbox::Sandbox& sandbox, const WorkerSettings& settings) {
  WorkerInfo w;
  auto add = [&w](std::string key, std::string value) {
    w.facts.emplace_back(std::move(key), std::move(value));
  };
  add("root", settings.root);
  absl::StatusOr<sandbox::WorkerFacts> probed = sandbox::ProbeWorkerFacts(sandbox);
  if (probed.ok()) {
    add("rootless", absl::StrCat(probed->rootless ? "yes" : "no", " (euid ", probed->euid, ")"));
  }
  add("snapshotter", settings.snapshotter_why.empty()
                         ? settings.snapshotter
                         : absl::StrCat(settings.snapshotter, " (", settings.snapshotter_why, ")"));
  add("parallelism", std::to_string(settings.parallelism));
  if (!probed.ok()) {
    add("network", absl::StrCat("default, none, host; default ", settings.default_network));
    add("self-test", absl::StrCat("probe failed: ", probed.status().message()));
    return w;
  }
  const sandbox::WorkerFacts& f = *probed;
  add("userns",
      absl::StrCat(sandbox::IdMappingModeName(f.id_mapping), ", ",
                   f.full_mapping ? "full range" : "single id", " (", f.mapped_uids, " uids, ",
                   f.mapped_gids, " gids)", f.mapping_note.empty() ? "" : ": ", f.mapping_note));
  add("uid_map", OneLine(f.uid_map));
  add("gid_map", OneLine(f.gid_map));
  add("network",
      absl::StrCat(absl::StrJoin(f.network_modes, ", "), "; default ", settings.default_network));
  add("net helper", absl::StrCat(f.network_helper, "; check: ", f.network_helper_check,
                                 "; self-test: ", f.network_helper_self_test));
  add("/sys", f.sys_mount);
  add("seccomp", f.seccomp);
  add("caps", absl::StrCat(absl::StrJoin(f.capabilities, ","),
                           " (NET_RAW dropped with network none); ambient cleared"));
  add("no_new_privs", absl::StrCat(f.no_new_privs ? "yes" : "no", ", umask 022, fds > 2 closed"));
  add("overlay", f.overlay ? "yes (userxattr)" : f.overlay_note);
  add("limits", absl::StrCat(sandbox::LimitLayerName(f.limit_layer), ": ", f.limit_note));
  add("kernel", f.kernel);
  add("self-test", f.self_test);
  return w;
}

}  // namespace kiln::engine
