// End-to-end engine benchmarks (in-process, no daemon): no-op rebuilds of the multi-stage
// example and of a 10,000-file context, a one-file-changed rebuild, and parallel-stages wall
// time. Needs root (or run it inside `unshare` as the README says), the base images from
// tools/images/build.sh ($KILN_IMAGES_DIR or /var/cache/kiln/images) and the shared
// examples ($KILN_SHARED_DIR or ../shared next to the checkout).
#include <unistd.h>

#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "base/temp_dir.h"
#include "base/userns.h"
#include "engine/build/engine.h"

namespace {

using kiln::engine::BuildRequest;
using kiln::engine::Engine;

std::string Env(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? v : fallback;
}

struct World {
  kiln::base::TempDir root;
  std::unique_ptr<Engine> engine;
  std::string shared;
  std::string big_context;
};

World* GetWorld() {
  static World* w = [] {
    auto* world = new World();
    auto root = kiln::base::TempDir::Create("kiln-bench-engine-");
    if (!root.ok()) std::abort();
    world->root = std::move(*root);
    kiln::engine::EngineOptions o;
    o.root = world->root.path() + "/state";
    auto e = Engine::Open(o);
    if (!e.ok()) {
      std::fprintf(stderr, "open engine: %s\n", std::string(e.status().message()).c_str());
      std::abort();
    }
    world->engine = std::move(*e);
    std::string images = Env("KILN_IMAGES_DIR", "/var/cache/kiln/images");
    for (auto [dir, name] : {std::pair{"busybox-1.35", "busybox:1.35"},
                             std::pair{"golang-1.19", "golang:1.19"}}) {
      auto r = world->engine->ImportImage(images + "/" + dir, name);
      if (!r.ok()) {
        std::fprintf(stderr, "import %s: %s (run tools/images/build.sh)\n", dir,
                     std::string(r.status().message()).c_str());
        std::abort();
      }
    }
    char self[4096];
    ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
    self[n > 0 ? n : 0] = '\0';
    world->shared = Env("KILN_SHARED_DIR", "");
    if (world->shared.empty()) {
      std::fprintf(stderr, "set KILN_SHARED_DIR to the shared/ folder\n");
      std::abort();
    }
    world->big_context = world->root.path() + "/big";
    std::string cmd = "sh " + world->shared + "/examples/big-context/make-context.sh " +
                      world->big_context + " 10000";
    if (std::system(cmd.c_str()) != 0) std::abort();
    return world;
  }();
  return w;
}

void Build(benchmark::State& state, const BuildRequest& req) {
  auto r = GetWorld()->engine->Build(req, nullptr, nullptr);
  if (!r.ok()) state.SkipWithError(std::string(r.status().message()).c_str());
}

BuildRequest Example(const std::string& name) {
  BuildRequest r;
  r.context_dir = GetWorld()->shared + "/examples/" + name;
  return r;
}

void BM_MultiStageNoOpRebuild(benchmark::State& state) {
  BuildRequest req = Example("multi-stage");
  Build(state, req);  // warm
  for (auto _ : state) Build(state, req);
}
BENCHMARK(BM_MultiStageNoOpRebuild)->Unit(benchmark::kMillisecond)->MinTime(2.0);

void BM_BigContextNoOpRebuild(benchmark::State& state) {
  BuildRequest req;
  req.context_dir = GetWorld()->big_context;
  Build(state, req);  // warm
  for (auto _ : state) Build(state, req);
}
BENCHMARK(BM_BigContextNoOpRebuild)->Unit(benchmark::kMillisecond)->MinTime(2.0);

void BM_BigContextOneFileChanged(benchmark::State& state) {
  BuildRequest req;
  req.context_dir = GetWorld()->big_context;
  Build(state, req);
  int i = 0;
  for (auto _ : state) {
    state.PauseTiming();
    std::string f = GetWorld()->big_context + "/src/d7/f042";
    FILE* fp = std::fopen(f.c_str(), "r+");
    std::fprintf(fp, "%08d", ++i);
    std::fclose(fp);
    state.ResumeTiming();
    Build(state, req);
  }
}
BENCHMARK(BM_BigContextOneFileChanged)->Unit(benchmark::kMillisecond)->Iterations(3);

void BM_ParallelStagesCold(benchmark::State& state) {
  BuildRequest req = Example("parallel-stages");
  req.no_cache = true;
  for (auto _ : state) Build(state, req);
  state.counters["sum_of_steps_s"] = 6.0;
}
BENCHMARK(BM_ParallelStagesCold)->Unit(benchmark::kMillisecond)->Iterations(3)->UseRealTime();

}  // namespace

int main(int argc, char** argv) {
  if (::geteuid() != 0) {
    auto ns = kiln::base::EnterRootlessNamespace();
    if (!ns.ok()) return 1;
  }
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
