// Engine::Open: assembles the engine from its parts (temporary bootstrap while the parts land;
// replaced by the full implementation in local_engine.cc).
#include "engine/build/engine.h"

#include "absl/status/status.h"

namespace kiln::engine {
namespace {

class BootstrapEngine : public Engine {
 public:
  explicit BootstrapEngine(EngineOptions options) : options_(std::move(options)) {}
  absl::StatusOr<BuildResult> Build(const BuildRequest&, BuildEventSink,
                                    solver::Cancellation*) override {
    return absl::UnimplementedError("engine: builds are not wired yet");
  }
  absl::StatusOr<std::vector<ImageSummary>> ListImages() override {
    return std::vector<ImageSummary>{};
  }
  absl::StatusOr<std::vector<std::string>> ImportImage(const std::string&,
                                                       const std::string&) override {
    return absl::UnimplementedError("engine: image import is not wired yet");
  }
  absl::Status RemoveImage(const std::string&) override {
    return absl::UnimplementedError("engine: image removal is not wired yet");
  }
  absl::StatusOr<std::vector<UsageRecord>> DiskUsage() override {
    return std::vector<UsageRecord>{};
  }
  absl::StatusOr<PruneReport> Prune(const PruneOptions&) override { return PruneReport{}; }
  WorkerInfo Workers() override { return WorkerInfo{{{"root", options_.root}}}; }

 private:
  EngineOptions options_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Engine>> Engine::Open(const EngineOptions& options) {
  return std::unique_ptr<Engine>(new BootstrapEngine(options));
}

}  // namespace kiln::engine
