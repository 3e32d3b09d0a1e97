#include "engine/ops/exec_op.h"

#include <functional>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/status.h"
#include "cache/cache_key.h"
#include "engine/ops/exec_mount.h"
#include "engine/ops/mount_target_paths.h"
#include "engine/ops/results.h"
#include "engine/ops/worker.h"
#include "engine/solver/step_error.h"
#include "sandbox/cancel.h"

namespace kiln::engine {
namespace {

// Opens the tree of the active snapshot `mounts` and runs `fn` on its root fd.
absl::Status WithRootTree(const TreeAccess& trees, const std::vector<base::Mount>& mounts,
                          const std::function<absl::Status(int)>& fn) {
  KILN_ASSIGN_OR_RETURN(Tree tree, trees.Open(mounts));
  absl::Status s = fn(tree.fd());
  absl::Status u = tree.Close();
  return s.ok() ? u : s;
}

}  // namespace

void SetSecretAttrs(const std::map<std::string, std::string>& secrets,
                    std::map<std::string, std::string>* attrs) {
  for (const auto& [id, path] : secrets) (*attrs)[kSecretAttrPrefix + id] = path;
}

absl::StatusOr<base::Digest> ExecOp::CacheKey(solver::ExecContext& ctx,
                                              const std::vector<solver::InputRef>& inputs) const {
  absl::StatusOr<std::vector<cache::MountContent>> content =
      BindMountsContent(deps_.mounts, params_.mounts, inputs);
  if (!content.ok()) return base::Annotate(content.status(), params_.where);
  std::vector<cache::CacheKey> keyed;
  for (const solver::InputRef& in : KeyedInputs(params_.mounts, inputs)) {
    keyed.push_back(in.cache_key);
  }
  // A build-wide network other than the engine's default changes what a RUN without its own
  // --network may do, so it keys the step (as the network in BuildKit's exec op does).
  auto net = ctx.options().attrs.find(kNetworkAttr);
  if (params_.network.empty() && net != ctx.options().attrs.end() &&
      net->second != deps_.default_network) {
    return cache::ExecCacheKey(definition_ + "\nkiln.network=" + net->second, *content, keyed);
  }
  return cache::ExecCacheKey(definition_, *content, keyed);
}

absl::StatusOr<solver::ResultRef> ExecOp::Exec(solver::ExecContext& ctx,
                                               const std::vector<solver::InputRef>& inputs) const {
  auto* root = dynamic_cast<const SnapshotResult*>(inputs.at(0).result.get());
  if (root == nullptr) return absl::InternalError("exec op: root is not a snapshot");
  snapshotter::Snapshotter& snapshots = *deps_.snapshots;
  std::string key = NewSnapshotKey("run");
  KILN_ASSIGN_OR_RETURN(auto mounts, snapshots.Prepare(key, root->snapshot()));
  bool committed = false;
  absl::Cleanup remove = [&] {
    if (!committed) (void)snapshots.Remove(key);
  };

  sandbox::Spec spec;
  spec.argv = params_.argv;
  spec.env = params_.env;
  // Like runc, give the process a HOME when the image and Dockerfile set none. Root's is
  // /root; other users get theirs from the sandbox's passwd lookup when it provides one.
  bool has_home = false;
  for (const auto& kv : spec.env) has_home = has_home || kv.rfind("HOME=", 0) == 0;
  if (!has_home && (params_.user.empty() || params_.user == "root" || params_.user == "0" ||
                    params_.user.rfind("0:", 0) == 0 || params_.user.rfind("root:", 0) == 0)) {
    spec.env.push_back("HOME=/root");
  }
  spec.cwd = params_.cwd.empty() ? "/" : params_.cwd;
  spec.user = params_.user;
  spec.rootfs = ForUserXattr(mounts);
  std::string net = params_.network;
  if (net.empty()) {
    auto it = ctx.options().attrs.find(kNetworkAttr);
    net = it != ctx.options().attrs.end() ? it->second : deps_.default_network;
  }
  if (net == "none") {
    spec.network = sandbox::NetworkMode::kNone;
  } else if (net == "host") {
    spec.network = sandbox::NetworkMode::kHost;
  } else if (net == "default") {
    spec.network = sandbox::NetworkMode::kDefault;
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("RUN --network=", net, ": unsupported; expected default, none or host"));
  }
  spec.hostname = "kiln";
  sandbox::CancelHandle cancel;
  spec.cancel = &cancel;
  // Cancellation's callback registry is thread-safe; the solver hands it out as const.
  auto& step_cancel = const_cast<solver::Cancellation&>(ctx.cancel());
  uint64_t cb = step_cancel.AddCallback([&cancel] { cancel.Cancel(); });
  absl::Cleanup drop_cb = [&] {
    if (cb != 0) step_cancel.RemoveCallback(cb);
  };
  spec.on_stdout = [&ctx](std::string_view s) { ctx.Log(solver::LogStream::kStdout, s); };
  spec.on_stderr = [&ctx](std::string_view s) { ctx.Log(solver::LogStream::kStderr, s); };

  std::unique_ptr<RunMounts> run_mounts;
  // The sandbox binds /etc/resolv.conf and /etc/hosts, creating empty stubs where the rootfs
  // has none; like BuildKit (moby/buildkit#1739) those stubs, and the mount targets of RUN
  // --mount, are removed after the run unless the command put something there.
  std::vector<std::string> targets = {"/etc/resolv.conf", "/etc/hosts"};
  if (!params_.mounts.empty()) {
    RunMountsEnv env;
    env.services = &deps_.mounts;
    env.ids = deps_.executor->id_mapping();
    env.where = params_.where;
    for (const auto& [k, v] : ctx.options().attrs) {
      if (k.rfind(kSecretAttrPrefix, 0) == 0)
        env.secrets[k.substr(sizeof(kSecretAttrPrefix) - 1)] = v;
    }
    env.cancelled = [&ctx] { return ctx.cancel().cancelled(); };
    KILN_ASSIGN_OR_RETURN(run_mounts, RunMounts::Prepare(env, params_.mounts, inputs));
    std::vector<std::string> mount_targets = run_mounts->Targets();
    targets.insert(targets.end(), mount_targets.begin(), mount_targets.end());
    spec.mounts = run_mounts->points();
    spec.env.insert(spec.env.end(), run_mounts->env().begin(), run_mounts->env().end());
  }
  MountTargetPaths targets_made;
  KILN_RETURN_IF_ERROR(WithRootTree(*deps_.trees, mounts, [&](int root) -> absl::Status {
    KILN_ASSIGN_OR_RETURN(targets_made, MountTargetPaths::Find(root, targets));
    return absl::OkStatus();
  }));

  KILN_ASSIGN_OR_RETURN(sandbox::Result r, deps_.executor->Run(spec));
  run_mounts.reset();  // unmount, unlock caches, drop secrets before anything else
  if (r.cancelled || ctx.cancel().cancelled()) return absl::CancelledError("RUN cancelled");
  std::string command =
      params_.display_command.empty() ? absl::StrJoin(params_.argv, " ") : params_.display_command;
  if (r.signal != 0) {
    return solver::ProcessExitError(command, 128 + r.signal);
  }
  if (r.exit_code != 0) return solver::ProcessExitError(command, r.exit_code);
  if (!targets_made.empty()) {
    KILN_RETURN_IF_ERROR(
        WithRootTree(*deps_.trees, mounts, [&](int root) { return targets_made.Remove(root); }));
  }
  std::string name = NewSnapshotKey("s");
  KILN_RETURN_IF_ERROR(snapshots.Commit(name, key));
  committed = true;
  return std::make_shared<SnapshotResult>(name);
}

absl::StatusOr<OpRef> ExecOp::Create(const graph::ExecOp& e, const OpSite& site, ExecOpDeps deps) {
  for (const graph::ExecMount& m : e.mounts) {
    if (m.type == graph::ExecMount::Type::kSsh) return site.Unsupported("RUN --mount=type=ssh");
    bool needs_target = m.type != graph::ExecMount::Type::kSecret || m.env.empty();
    if (needs_target &&
        (m.target.empty() || m.target.find_first_not_of('/') == std::string::npos)) {
      return site.Invalid(absl::StrCat(
          DescribeMount(m), ": the target must be a path below '/', expected target=<dir>"));
    }
  }
  if (e.security == "insecure") return site.Unsupported("RUN --security=insecure");
  Params p;
  p.argv = e.args;
  p.env = e.env;
  for (const auto& kv : e.proxy_env) p.env.push_back(kv);
  p.cwd = e.cwd;
  p.user = e.user;
  p.network = e.network == "sandbox" ? "" : e.network;
  p.display_command = site.vertex->meta.instruction;
  p.mounts = e.mounts;
  p.where = site.Where();
  return std::shared_ptr<const solver::Op>(
      new ExecOp(std::move(deps), std::move(p), graph::SerializeOp(site.vertex->op)));
}

void RegisterExecOp(OpFactory* factory, ExecOpDeps deps) {
  factory->Register<graph::ExecOp>(
      OpKind::kExec, [deps = std::move(deps)](const graph::ExecOp& e, const OpSite& site) {
        return ExecOp::Create(e, site, deps);
      });
}

}  // namespace kiln::engine
