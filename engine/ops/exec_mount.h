// RUN --mount, BuildKit's rules (docs: Dockerfile reference, "RUN --mount"):
//   bind   (default type) from the build context (default), a stage or an image; `source`
//          inside it; read-only unless `rw`, whose writes go to a throwaway overlay upper dir
//          (a file source: a throwaway copy). Keys the step by CONTENT (exec_mount_source.h).
//   cache  a persistent directory per id (cache_mount.h); `from`/`source` seed a new one;
//          mode/uid/gid for a new one; `sharing`; `ro`. Not part of the cache key.
//   tmpfs  `size`.
//   secret a value from the build's secrets (id -> host file), as a read-only file on a
//          private tmpfs (default /run/secrets/<id>, mode 0400, uid/gid 0) and/or an env var;
//          `required` makes a missing one an error. Never in the cache key or a layer.
//   ssh    rejected when the step is converted.
// Bind sources are opened as fds and mounted on an engine-owned mount point before the run, so
// nothing in the context or a stage can redirect them (symlinks resolve inside the source).
#ifndef KILN_ENGINE_OPS_EXEC_MOUNT_H_
#define KILN_ENGINE_OPS_EXEC_MOUNT_H_

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "cache/cache_key.h"
#include "engine/graph/op.h"
#include "engine/ops/exec_mount_source.h"
#include "engine/solver/op.h"
#include "sandbox/id_mapping.h"
#include "sandbox/spec.h"

namespace kiln::engine {

// BuildOptions::attrs key prefix for secrets: "secret.<id>" -> host file path.
inline constexpr char kSecretAttrPrefix[] = "secret.";
// Secrets larger than this are refused (BuildKit's limit).
inline constexpr size_t kMaxSecretBytes = 500 * 1024;

// "RUN --mount=type=cache,id=x,target=/y" (for messages; no secret values).
std::string DescribeMount(const graph::ExecMount& m);

// The content of every bind mount (its index and the content digest of what it selects), for
// the step's cache key (cache::ExecCacheKey). Errors name the source ("source '/x' not found
// in ...").
absl::StatusOr<std::vector<cache::MountContent>> BindMountsContent(
    const MountServices& w, const std::vector<graph::ExecMount>& mounts,
    const std::vector<solver::InputRef>& inputs);

// The inputs whose own cache keys stay in the step's key: all but those read only by bind
// mounts (those are keyed by content).
std::vector<solver::InputRef> KeyedInputs(const std::vector<graph::ExecMount>& mounts,
                                          const std::vector<solver::InputRef>& inputs);

struct RunMountsEnv {
  const MountServices* services = nullptr;
  const sandbox::IdMapping* ids = nullptr;     // to explain ids a rootless run cannot own
  std::string where;                           // "Dockerfile:12" for user-facing errors
  std::map<std::string, std::string> secrets;  // id -> host file path
  std::function<bool()> cancelled;             // polled while waiting for a locked cache
};

// The extra mounts of one run, ready for sandbox::Spec. Owns every resource behind them
// (engine-side bind mounts, temp dirs, the secrets tmpfs, cache-mount locks) and releases
// them, newest first, when destroyed. Not thread-safe.
class RunMounts {
 public:
  static absl::StatusOr<std::unique_ptr<RunMounts>> Prepare(
      const RunMountsEnv& env, const std::vector<graph::ExecMount>& mounts,
      const std::vector<solver::InputRef>& inputs);
  ~RunMounts();
  RunMounts(const RunMounts&) = delete;
  RunMounts& operator=(const RunMounts&) = delete;

  const std::vector<sandbox::MountPoint>& points() const { return points_; }
  const std::vector<std::string>& env() const { return env_; }  // "K=V" from secrets
  // Targets of the mounts made (absolute container paths).
  std::vector<std::string> Targets() const;

 private:
  RunMounts() = default;
  absl::Status AddBind(const RunMountsEnv& env, const graph::ExecMount& m,
                       const solver::InputRef& in);
  absl::Status AddCache(const RunMountsEnv& env, const graph::ExecMount& m,
                        const std::vector<solver::InputRef>& inputs);
  absl::Status AddSecret(const RunMountsEnv& env, const graph::ExecMount& m);
  // Keeps `resource` alive until destruction (released in reverse order).
  template <typename T>
  T* Hold(T resource) {
    auto p = std::make_shared<T>(std::move(resource));
    held_.push_back(p);
    return p.get();
  }

  std::vector<sandbox::MountPoint> points_;
  std::vector<std::string> env_;
  std::string secrets_dir_;  // the private tmpfs, once made
  std::vector<std::shared_ptr<void>> held_;
};

}  // namespace kiln::engine

#endif  // KILN_ENGINE_OPS_EXEC_MOUNT_H_
