// End-to-end engine benchmarks (in-process, no daemon), the scenarios of the solver/cache
// issue: multi-stage cold / no-op / one-file-changed, big-context (10,000 files) no-op and
// one-file-changed, and parallel-stages wall time against the sum of its steps.
//
// Every build exports to the engine's image store (`-t bench:NAME`), as `kilnctl build -t`
// does, so a no-op rebuild includes the export of an unchanged image.
//
// Needs root (or it enters its own user namespace, as the rootless daemon does), the base images
// from tools/images/build.sh ($KILN_IMAGES_DIR or /var/cache/kiln/images) and the shared
// examples ($KILN_SHARED_DIR). The examples are copied to a temp dir, so editing a source file
// never touches the shared folder.
#include <unistd.h>

#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "base/temp_dir.h"
#include "base/userns.h"
#include "engine/core/engine.h"

namespace {

using kiln::engine::BuildRequest;
using kiln::engine::BuildResult;
using kiln::engine::Engine;

std::string Env(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? v : fallback;
}

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "bench_engine: %s\n", what.c_str());
  std::exit(1);
}

struct World {
  kiln::base::TempDir root;
  std::unique_ptr<Engine> engine;
  std::string examples;     // private copy of shared/examples
  std::string big_context;
};

World* GetWorld() {
  static World* w = [] {
    auto* world = new World();
    auto root = kiln::base::TempDir::Create("kiln-bench-engine-");
    if (!root.ok()) Die("temp dir: " + std::string(root.status().message()));
    world->root = std::move(*root);
    kiln::engine::EngineOptions o;
    o.root = world->root.path() + "/state";
    auto e = Engine::Open(o);
    if (!e.ok()) Die("open engine: " + std::string(e.status().message()));
    world->engine = std::move(*e);
    std::string images = Env("KILN_IMAGES_DIR", "/var/cache/kiln/images");
    for (auto [dir, name] : {std::pair{"busybox-1.35", "busybox:1.35"},
                             std::pair{"golang-1.19", "golang:1.19"}}) {
      auto r = world->engine->ImportImage(images + "/" + dir, name);
      if (!r.ok()) {
        Die(std::string("import ") + dir + ": " + std::string(r.status().message()) +
            " (run tools/images/build.sh)");
      }
    }
    std::string shared = Env("KILN_SHARED_DIR", "");
    if (shared.empty()) Die("set KILN_SHARED_DIR to the shared/ folder");
    world->examples = world->root.path() + "/examples";
    std::error_code ec;
    std::filesystem::copy(shared + "/examples", world->examples,
                          std::filesystem::copy_options::recursive, ec);
    if (ec) Die("copy examples: " + ec.message());
    world->big_context = world->root.path() + "/big";
    std::string cmd = "sh " + shared + "/examples/big-context/make-context.sh " +
                      world->big_context + " 10000 >/dev/null";
    if (std::system(cmd.c_str()) != 0) Die("make-context.sh failed");
    return world;
  }();
  return w;
}

BuildRequest Request(const std::string& context, const std::string& tag) {
  BuildRequest r;
  r.context_dir = context;
  r.exports.push_back(kiln::engine::ImageOutput{{"bench:" + tag}});
  return r;
}

BuildRequest Example(const std::string& name) {
  return Request(GetWorld()->examples + "/" + name, name);
}

bool Build(benchmark::State& state, const BuildRequest& req, BuildResult* out = nullptr) {
  auto r = GetWorld()->engine->Build(req, nullptr, nullptr);
  if (!r.ok()) {
    state.SkipWithError(std::string(r.status().message()).c_str());
    return false;
  }
  if (out != nullptr) *out = std::move(*r);
  return true;
}

// Appends a line to `path` (a new comment), so its content and stat change.
void Touch(const std::string& path, int i) {
  std::ofstream f(path, std::ios::app);
  f << "// edit " << i << "\n";
}

void ReportSteps(benchmark::State& state, const BuildResult& r) {
  state.counters["steps"] = r.steps_total;
  state.counters["cached"] = r.steps_cached;
}

void BM_MultiStageCold(benchmark::State& state) {
  BuildRequest req = Example("multi-stage");
  req.no_cache = true;
  BuildResult r;
  for (auto _ : state) Build(state, req, &r);
  ReportSteps(state, r);
}
BENCHMARK(BM_MultiStageCold)->Unit(benchmark::kMillisecond)->Iterations(2)->UseRealTime();

void BM_MultiStageNoOpRebuild(benchmark::State& state) {
  BuildRequest req = Example("multi-stage");
  BuildResult r;
  Build(state, req);  // warm
  for (auto _ : state) Build(state, req, &r);
  ReportSteps(state, r);
}
BENCHMARK(BM_MultiStageNoOpRebuild)->Unit(benchmark::kMillisecond)->MinTime(2.0);

// One edit to welcome.go: the COPY and the go build rerun; `outside_compile_ms` is the build's
// wall time minus the compile step's (the part Kiln itself is responsible for).
void BM_MultiStageOneFileChanged(benchmark::State& state) {
  BuildRequest req = Example("multi-stage");
  BuildResult r;
  Build(state, req);
  int i = 0;
  double outside_ms = 0;
  for (auto _ : state) {
    state.PauseTiming();
    Touch(req.context_dir + "/welcome.go", ++i);
    state.ResumeTiming();
    auto t0 = std::chrono::steady_clock::now();
    if (!Build(state, req, &r)) break;
    double total_ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    double compile_ms = 0;
    for (const auto& s : r.steps) {
      if (s.name.find("go build") != std::string::npos) {
        compile_ms += static_cast<double>(s.completed_unix_nanos - s.started_unix_nanos) / 1e6;
      }
    }
    outside_ms += total_ms - compile_ms;
  }
  state.counters["outside_compile_ms"] = outside_ms / static_cast<double>(std::max(i, 1));
  ReportSteps(state, r);
}
BENCHMARK(BM_MultiStageOneFileChanged)->Unit(benchmark::kMillisecond)->Iterations(2)
    ->UseRealTime();

void BM_BigContextNoOpRebuild(benchmark::State& state) {
  BuildRequest req = Request(GetWorld()->big_context, "big");
  BuildResult r;
  Build(state, req);  // warm
  for (auto _ : state) Build(state, req, &r);
  ReportSteps(state, r);
}
BENCHMARK(BM_BigContextNoOpRebuild)->Unit(benchmark::kMillisecond)->MinTime(2.0);

void BM_BigContextOneFileChanged(benchmark::State& state) {
  BuildRequest req = Request(GetWorld()->big_context, "big");
  BuildResult r;
  Build(state, req);
  int i = 0;
  for (auto _ : state) {
    state.PauseTiming();
    std::string f = GetWorld()->big_context + "/src/d7/f042";
    FILE* fp = std::fopen(f.c_str(), "r+");
    if (fp == nullptr) Die("open " + f);
    std::fprintf(fp, "%08d", ++i);
    std::fclose(fp);
    state.ResumeTiming();
    Build(state, req, &r);
  }
  ReportSteps(state, r);
}
BENCHMARK(BM_BigContextOneFileChanged)->Unit(benchmark::kMillisecond)->Iterations(5)
    ->UseRealTime();

// Wall time of a build with every step rerun, against the sum of its steps' own durations
// (measured from the build's step timings, not assumed).
void BM_ParallelStagesCold(benchmark::State& state) {
  BuildRequest req = Example("parallel-stages");
  req.no_cache = true;
  BuildResult r;
  double sum_ms = 0;
  int n = 0;
  for (auto _ : state) {
    if (!Build(state, req, &r)) break;
    for (const auto& s : r.steps) {
      if (!s.cached) {
        sum_ms += static_cast<double>(s.completed_unix_nanos - s.started_unix_nanos) / 1e6;
      }
    }
    ++n;
  }
  state.counters["sum_of_steps_ms"] = sum_ms / std::max(n, 1);
  ReportSteps(state, r);
}
BENCHMARK(BM_ParallelStagesCold)->Unit(benchmark::kMillisecond)->Iterations(3)->UseRealTime();

}  // namespace

int main(int argc, char** argv) {
  if (::geteuid() != 0) {
    auto ns = kiln::base::EnterRootlessNamespace();
    if (!ns.ok()) Die("rootless namespace: " + std::string(ns.status().message()));
  }
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
