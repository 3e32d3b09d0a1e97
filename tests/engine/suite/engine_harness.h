// EngineHarness: the engine's build pipeline without root, mounts or processes. A Dockerfile
// is lowered by the real frontend, made into ops by the real OpFactory (the real FileOp and
// ExecOp, context source and scratch), solved by the real solver through the real cache seam,
// and assembled into an image by the real exporter; only the side effects are fakes: the
// InMemorySnapshotter keeps each snapshot as a plain directory tree (DirTreeAccess opens it
// without mounting), RUN goes to a FakeExecutor that applies a scripted change to the tree,
// FROM <image> unpacks a small scripted base tree, and the content store and cache index are
// in memory. Everything lives in one temp dir that the harness removes.
#ifndef KILN_TESTS_ENGINE_SUITE_ENGINE_HARNESS_H_
#define KILN_TESTS_ENGINE_SUITE_ENGINE_HARNESS_H_

#include <sys/stat.h>
#include <sys/types.h>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "base/temp_dir.h"
#include "engine/copy/context_checksums.h"
#include "engine/exporters/exporter.h"
#include "engine/frontend/lower.h"
#include "engine/ops/layers.h"
#include "engine/ops/op_factory.h"
#include "engine/ops/tree_access.h"
#include "engine/ops/worker.h"
#include "engine/solver/progress.h"
#include "engine/solver/solver.h"
#include "tests/fakes/fake_executor.h"
#include "tests/fakes/in_memory_cache_index.h"
#include "tests/fakes/in_memory_content_store.h"
#include "tests/fakes/in_memory_snapshotter.h"

namespace kiln::engine::testing {

// One entry of a tree: 'f' file, 'd' directory, 'l' symlink; permission bits; owner; the
// file's bytes or the link's target.
struct Node {
  char type = 'f';
  mode_t mode = 0;
  uid_t uid = 0;
  gid_t gid = 0;
  std::string data;
  friend bool operator==(const Node&, const Node&) = default;
};
// Path relative to the root ("etc/passwd") -> entry; the root itself is left out.
using TreeMap = std::map<std::string, Node>;

// The uid and gid of the user "app" in the base image's /etc/passwd and /etc/group.
inline constexpr uid_t kAppUid = 1000;
inline constexpr gid_t kAppGid = 1000;

// The base image every `FROM base` resolves to: /etc/passwd (root, app), /etc/group, /bin,
// /tmp and /home/app, ENV PATH, history of one layer.
oci::Image BaseImage();

// What one build did.
struct Outcome {
  LoweredBuild lowered;
  std::string top;  // the final snapshot ("" = empty tree)
  std::vector<solver::ProgressEvent> events;

  // Names of the steps that completed, from the cache or by running.
  std::vector<std::string> Cached() const;
  std::vector<std::string> Ran() const;
};

class EngineHarness {
 public:
  // Makes the temp dir, the context dir and every fake.
  static absl::StatusOr<std::unique_ptr<EngineHarness>> Create();
  ~EngineHarness();

  const std::string& context_dir() const { return context_; }
  // Writes a context file (parents are created 0755).
  absl::Status WriteContext(const std::string& rel, std::string_view data, mode_t mode = 0644);
  absl::Status SymlinkContext(const std::string& rel, const std::string& target);

  // Builds `dockerfile` with the context's .dockerignore `ignore` and build args `args`.
  absl::StatusOr<Outcome> Build(std::string_view dockerfile, std::string_view ignore = "",
                                const std::map<std::string, std::string>& args = {});

  // The tree of committed snapshot `snapshot`.
  absl::StatusOr<TreeMap> TreeOf(const std::string& snapshot);

  // The image of a build (its layers made by diffing the snapshot trees), as LocalEngine
  // assembles it: the base image's config and history, then the build's.
  absl::StatusOr<BuiltImage> Assemble(const Outcome& o);
  // The config blob of an assembled image, parsed.
  absl::StatusOr<oci::Image> ConfigOf(const BuiltImage& image);

  FakeExecutor& executor() { return *executor_; }
  int image_unpacks() const;

 private:
  EngineHarness() = default;

  base::TempDir dir_;
  std::string context_;
  std::unique_ptr<snapshotter::InMemorySnapshotter> snapshots_;
  std::unique_ptr<fakes::InMemoryContentStore> content_;
  std::unique_ptr<fakes::InMemoryCacheIndex> index_;
  std::unique_ptr<ContextChecksums> checksums_;
  DirTreeAccess trees_;
  std::unique_ptr<FakeExecutor> executor_;
  Worker worker_;
  std::unique_ptr<LayerStore> layers_;
  std::unique_ptr<solver::CacheSeam> seam_;
  std::unique_ptr<solver::Solver> solver_;
  std::unique_ptr<ImageResolver> resolver_;
  std::shared_ptr<std::atomic<int>> unpacks_ = std::make_shared<std::atomic<int>>(0);
};

}  // namespace kiln::engine::testing

#endif  // KILN_TESTS_ENGINE_SUITE_ENGINE_HARNESS_H_
