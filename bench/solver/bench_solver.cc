// Scheduling overhead of the solver, with fake ops and an in-memory cache (no disk, no
// processes), so the figures are the solver's own cost. See README.md for the method.
#include <benchmark/benchmark.h>
#include <sys/resource.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/solver/solver.h"
#include "tests/fakes/solver_fakes.h"

namespace kiln::engine::solver {
namespace {

using testing::FakeGraph;
using testing::InMemoryCache;

// User+system CPU time of the whole process (all threads), in microseconds.
double ProcessCpuMicros() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto micros = [](const timeval& tv) { return tv.tv_sec * 1e6 + static_cast<double>(tv.tv_usec); };
  return micros(usage.ru_utime) + micros(usage.ru_stime);
}

// Bench ops return a fixed-size result (the fakes' default id nests the inputs' ids).
VertexRef Add(FakeGraph& g, std::string name, std::vector<VertexRef> inputs = {}) {
  testing::FakeOpSpec spec;
  spec.definition = name;
  spec.content = std::move(name);
  return g.Add(std::move(spec), std::move(inputs));
}

// A chain: v0 <- v1 <- ... (each step needs the previous one): the worst case, every step is
// a hand-off from one worker to the next.
VertexRef Chain(FakeGraph& g, int n) {
  VertexRef last = Add(g, "v0");
  for (int i = 1; i < n; ++i) last = Add(g, absl::StrCat("v", i), {last});
  return last;
}

// A Dockerfile-like DAG: vertex i depends on i-1 and on a pseudo-random earlier vertex.
VertexRef Dag(FakeGraph& g, int n) {
  std::vector<VertexRef> v = {Add(g, "d0")};
  uint32_t seed = 42;
  for (int i = 1; i < n; ++i) {
    seed = seed * 1103515245u + 12345u;
    std::vector<VertexRef> inputs = {v[i - 1]};
    int other = static_cast<int>((seed >> 16) % static_cast<uint32_t>(i));
    if (other != i - 1) inputs.push_back(v[other]);
    v.push_back(Add(g, absl::StrCat("d", i), inputs));
  }
  return v.back();
}

// Wide: n independent leaves joined by one vertex.
VertexRef Wide(FakeGraph& g, int n) {
  std::vector<VertexRef> leaves;
  for (int i = 0; i < n; ++i) leaves.push_back(Add(g, absl::StrCat("leaf", i)));
  return Add(g, "join", leaves);
}

void RunBench(benchmark::State& state, VertexRef (*shape)(FakeGraph&, int), bool cached) {
  const int n = static_cast<int>(state.range(0));
  InMemoryCache cache;
  Solver solver(SolverOptions{.max_parallelism = 0, .cache = &cache});
  FakeGraph g;
  VertexRef out = shape(g, n);
  BuildRequest request;
  request.outputs = {out};
  request.options.no_cache = !cached;
  if (cached && !solver.Solve(request).ok()) state.SkipWithError("warm-up build failed");
  const int warm_execs = g.world.total_execs.load();
  int64_t vertices = 0;
  const double cpu_start = ProcessCpuMicros();
  for (auto _ : state) {
    absl::StatusOr<SolveResult> result = solver.Solve(request);
    if (!result.ok()) {
      state.SkipWithError(std::string(result.status().message()).c_str());
      break;
    }
    vertices += n;
  }
  const double cpu_micros = ProcessCpuMicros() - cpu_start;
  const int timed_execs = g.world.total_execs.load() - warm_execs;
  state.counters["vertices"] = n;
  state.counters["execs_per_build"] =
      state.iterations() > 0 ? static_cast<double>(timed_execs) / state.iterations() : 0;
  state.counters["us_per_100_vertices"] = benchmark::Counter(
      static_cast<double>(vertices) / 100.0,
      benchmark::Counter::kIsRate | benchmark::Counter::kInvert, benchmark::Counter::kIs1000);
  // CPU of all threads (workers + caller): robust against other load on the machine.
  state.counters["cpu_us_per_100_vertices"] =
      vertices > 0 ? cpu_micros / (static_cast<double>(vertices) / 100.0) : 0;
  state.SetItemsProcessed(vertices);
}

void BM_NoopRebuildChain(benchmark::State& s) { RunBench(s, Chain, true); }
void BM_NoopRebuildDag(benchmark::State& s) { RunBench(s, Dag, true); }
void BM_NoopRebuildWide(benchmark::State& s) { RunBench(s, Wide, true); }
void BM_ColdBuildWide(benchmark::State& s) { RunBench(s, Wide, false); }
void BM_ColdBuildChain(benchmark::State& s) { RunBench(s, Chain, false); }

BENCHMARK(BM_NoopRebuildChain)->Arg(100)->Arg(1000)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_NoopRebuildDag)->Arg(1000)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_NoopRebuildWide)->Arg(1000)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_ColdBuildWide)->Arg(1000)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_ColdBuildChain)->Arg(1000)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace kiln::engine::solver

BENCHMARK_MAIN();
