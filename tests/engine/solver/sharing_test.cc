// Single-flight across concurrent builds on one Solver, and cancellation of shared work.
#include <gtest/gtest.h>

#include <thread>

#include "engine/solver/solver.h"
#include "tests/fakes/solver_fakes.h"

namespace kiln::engine::solver {
namespace {

using testing::FakeGraph;
using testing::FakeOpSpec;
using testing::InMemoryCache;
using testing::Latch;

// True once `recorder` has seen a kStarted event for `vertex` (within a timeout).
bool WaitForStarted(const ProgressRecorder& recorder, const VertexRef& vertex) {
  for (int i = 0; i < 4000; ++i) {
    for (const ProgressEvent& e : recorder.Events()) {
      if (e.kind == ProgressKind::kStarted && e.vertex == vertex) return true;
    }
    absl::SleepFor(absl::Milliseconds(5));
  }
  return false;
}

struct SharedGraph {
  SharedGraph() {
    FakeOpSpec spec;
    spec.definition = "shared";
    spec.started = shared_started;
    spec.wait_for = release;
    spec.log_lines = {"compiling"};
    shared = g.Add(spec);
    left = g.Add("left", {shared});
    right = g.Add("right", {shared});
  }
  FakeGraph g;
  std::shared_ptr<Latch> shared_started = std::make_shared<Latch>();
  std::shared_ptr<Latch> release = std::make_shared<Latch>();
  VertexRef shared, left, right;
};

TEST(SolverSharingTest, TwoConcurrentBuildsRunASharedVertexOnce) {
  InMemoryCache cache;
  Solver solver(SolverOptions{.max_parallelism = 2, .cache = &cache});
  SharedGraph sg;
  absl::StatusOr<SolveResult> first, second;
  ProgressRecorder second_events;
  std::thread t1([&] {
    BuildRequest request;
    request.outputs = {sg.left};
    first = solver.Solve(request);
  });
  ASSERT_TRUE(sg.shared_started->Wait());
  std::thread t2([&] {
    BuildRequest request;
    request.outputs = {sg.right};
    request.progress = second_events.Sink();
    second = solver.Solve(request);
  });
  // The second build has attached to the running vertex once it sees its (replayed) start.
  ASSERT_TRUE(WaitForStarted(second_events, sg.shared));
  sg.release->Open();
  t1.join();
  t2.join();
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(sg.g.execs("shared"), 1);
  EXPECT_EQ(sg.g.op("shared").key_calls.load(), 1);
  EXPECT_EQ(first->outputs[0]->Id(), "left(shared())");
  EXPECT_EQ(second->outputs[0]->Id(), "right(shared())");
  // The second build attached mid-run: it gets the replayed start, then the live output,
  // then the completion (not cached: it was computed once, for both).
  using K = ProgressKind;
  std::vector<K> kinds;
  std::string output;
  for (const ProgressEvent& e : second_events.Events()) {
    if (e.vertex != sg.shared) continue;
    kinds.push_back(e.kind);
    if (e.kind == K::kLog) output += e.data;
    if (e.kind == K::kCompleted) {
      EXPECT_FALSE(e.cached);
    }
  }
  EXPECT_EQ(kinds, (std::vector<K>{K::kStarted, K::kLog, K::kProgress, K::kCompleted}));
  EXPECT_EQ(output, "compiling\n");
}

TEST(SolverSharingTest, CancellingOneBuildKeepsSharedVertexRunningForTheOther) {
  InMemoryCache cache;
  Solver solver(SolverOptions{.max_parallelism = 2, .cache = &cache});
  SharedGraph sg;
  Cancellation cancel_first;
  absl::StatusOr<SolveResult> first, second;
  ProgressRecorder second_events;
  std::thread t1([&] {
    BuildRequest request;
    request.outputs = {sg.left};
    request.cancel = &cancel_first;
    first = solver.Solve(request);
  });
  ASSERT_TRUE(sg.shared_started->Wait());
  std::thread t2([&] {
    BuildRequest request;
    request.outputs = {sg.right};
    request.progress = second_events.Sink();
    second = solver.Solve(request);
  });
  ASSERT_TRUE(WaitForStarted(second_events, sg.shared));
  cancel_first.Cancel();
  t1.join();  // returns while the shared vertex is still blocked
  EXPECT_EQ(first.status().code(), absl::StatusCode::kCancelled);
  EXPECT_FALSE(sg.release->is_open());
  sg.release->Open();
  t2.join();
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_FALSE(sg.g.op("shared").saw_cancel.load());
  EXPECT_EQ(sg.g.execs("shared"), 1);
  EXPECT_EQ(sg.g.execs("left"), 0);
  EXPECT_EQ(sg.g.execs("right"), 1);
}

TEST(SolverSharingTest, CancellingEveryBuildCancelsTheSharedVertex) {
  Solver solver(SolverOptions{.max_parallelism = 2});
  FakeGraph g;
  auto started = std::make_shared<Latch>();
  FakeOpSpec spec;
  spec.definition = "shared";
  spec.started = started;
  spec.block_until_cancelled = true;
  VertexRef shared = g.Add(spec);
  VertexRef left = g.Add("left", {shared});
  VertexRef right = g.Add("right", {shared});
  Cancellation c1, c2;
  absl::StatusOr<SolveResult> r1, r2;
  ProgressRecorder second_events;
  std::thread t1([&] {
    BuildRequest request;
    request.outputs = {left};
    request.cancel = &c1;
    r1 = solver.Solve(request);
  });
  ASSERT_TRUE(started->Wait());
  std::thread t2([&] {
    BuildRequest request;
    request.outputs = {right};
    request.cancel = &c2;
    request.progress = second_events.Sink();
    r2 = solver.Solve(request);
  });
  ASSERT_TRUE(WaitForStarted(second_events, shared));
  c1.Cancel();
  t1.join();
  EXPECT_FALSE(g.op("shared").saw_cancel.load());
  c2.Cancel();
  t2.join();
  EXPECT_EQ(r1.status().code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(r2.status().code(), absl::StatusCode::kCancelled);
  EXPECT_TRUE(g.op("shared").saw_cancel.load());
  EXPECT_EQ(g.world.results->live.load(), 0);
}

TEST(SolverSharingTest, FailureOfASharedVertexFailsBothBuilds) {
  Solver solver(SolverOptions{.max_parallelism = 2});
  FakeGraph g;
  auto started = std::make_shared<Latch>();
  auto release = std::make_shared<Latch>();
  FakeOpSpec spec;
  spec.definition = "shared";
  spec.started = started;
  spec.wait_for = release;
  spec.exit_code = 7;
  VertexRef shared = g.Add(spec);
  absl::StatusOr<SolveResult> r1, r2;
  ProgressRecorder second_events;
  std::thread t1([&] {
    BuildRequest request;
    request.outputs = {g.Add("left", {shared})};
    r1 = solver.Solve(request);
  });
  ASSERT_TRUE(started->Wait());
  std::thread t2([&] {
    BuildRequest request;
    request.outputs = {g.Add("right", {shared})};
    request.progress = second_events.Sink();
    r2 = solver.Solve(request);
  });
  ASSERT_TRUE(WaitForStarted(second_events, shared));
  release->Open();
  t1.join();
  t2.join();
  ASSERT_FALSE(r1.ok());
  ASSERT_FALSE(r2.ok());
  EXPECT_EQ(ExitCodeOf(r1.status()), 7);
  EXPECT_EQ(ExitCodeOf(r2.status()), 7);
  EXPECT_EQ(g.execs("shared"), 1);
}

// Many builds over overlapping random DAGs at once: every vertex runs at most once while
// shared, and every build gets the right answer. Mostly a race detector workload.
TEST(SolverSharingTest, ManyConcurrentBuildsOverlappingGraphs) {
  InMemoryCache cache;
  Solver solver(SolverOptions{.max_parallelism = 2, .cache = &cache});
  FakeGraph g;
  std::vector<VertexRef> vertices;
  uint32_t seed = 12345;
  auto next = [&seed] {
    seed = seed * 1103515245u + 12345u;
    return (seed >> 16) & 0x7fff;
  };
  for (int i = 0; i < 60; ++i) {
    std::vector<VertexRef> inputs;
    for (int k = 0; k < 3 && i > 0; ++k) inputs.push_back(vertices[next() % i]);
    FakeOpSpec spec;
    spec.definition = "v" + std::to_string(i);
    spec.sleep = absl::Microseconds(next() % 300);
    vertices.push_back(g.Add(spec, inputs));
  }
  std::vector<std::thread> threads;
  std::vector<absl::StatusOr<SolveResult>> results(8);
  std::vector<absl::StatusOr<SolveResult>> reference(8);
  for (int b = 0; b < 8; ++b) {
    threads.emplace_back([&, b] {
      BuildRequest request;
      request.outputs = {vertices[59 - b], vertices[40 - b]};
      request.options.no_cache = (b % 3 == 0);
      results[b] = solver.Solve(request);
    });
  }
  for (auto& t : threads) t.join();
  for (int b = 0; b < 8; ++b) {
    ASSERT_TRUE(results[b].ok()) << results[b].status();
    BuildRequest request;
    request.outputs = {vertices[59 - b], vertices[40 - b]};
    reference[b] = solver.Solve(request);  // all cached now
    ASSERT_TRUE(reference[b].ok());
    EXPECT_EQ(results[b]->outputs[0]->Id(), reference[b]->outputs[0]->Id());
    EXPECT_EQ(results[b]->outputs[1]->Id(), reference[b]->outputs[1]->Id());
  }
  // At most once for the cached builds (single-flight, then cache hits) plus once per
  // no_cache build (b = 0, 3, 6).
  for (int i = 0; i < 60; ++i) EXPECT_LE(g.execs("v" + std::to_string(i)), 4);
}

}  // namespace
}  // namespace kiln::engine::solver
