// Scheduler behaviour with fake ops: ordering, parallelism, single-flight, caching, failure.
#include "engine/solver/solver.h"

#include <gtest/gtest.h>

#include <thread>

#include "tests/fakes/solver_fakes.h"

namespace kiln::engine::solver {
namespace {

using testing::FakeGraph;
using testing::FakeOpSpec;
using testing::InMemoryCache;
using testing::Latch;

FakeOpSpec Spec(std::string definition) {
  FakeOpSpec spec;
  spec.definition = std::move(definition);
  return spec;
}

class SolverTest : public ::testing::Test {
 protected:
  Solver MakeSolver(size_t parallelism = 2) {
    return Solver(
        SolverOptions{.max_parallelism = parallelism, .cache = &cache_, .clock = &clock_});
  }
  absl::StatusOr<SolveResult> Run(Solver& solver, std::vector<VertexRef> outputs,
                                  BuildOptions options = {}) {
    BuildRequest request;
    request.outputs = std::move(outputs);
    request.options = std::move(options);
    return solver.Solve(request);
  }

  FakeGraph g_;
  InMemoryCache cache_;
  testing::FakeClock clock_;
};

TEST_F(SolverTest, RunsChainInOrderAndReturnsOutputs) {
  Solver solver = MakeSolver();
  VertexRef a = g_.Add("a");
  VertexRef b = g_.Add("b", {a});
  VertexRef c = g_.Add("c", {b, a});
  auto result = Run(solver, {c, a});
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_EQ(result->outputs.size(), 2u);
  EXPECT_EQ(result->outputs[0]->Id(), "c(b(a()),a())");
  EXPECT_EQ(result->outputs[1]->Id(), "a()");
  EXPECT_EQ(g_.execs("a"), 1);
  EXPECT_EQ(g_.execs("b"), 1);
  EXPECT_EQ(g_.execs("c"), 1);
}

TEST_F(SolverTest, NullOutputIsInvalidArgument) {
  Solver solver = MakeSolver();
  auto result = Run(solver, {nullptr});
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(SolverTest, EmptyRequestSucceeds) {
  Solver solver = MakeSolver();
  auto result = Run(solver, {});
  ASSERT_TRUE(result.ok());
  EXPECT_TRUE(result->outputs.empty());
}

TEST_F(SolverTest, IndependentBranchesRunConcurrently) {
  Solver solver = MakeSolver(2);
  // Each branch waits until the other has started: only possible if both run at once.
  auto left_started = std::make_shared<Latch>();
  auto right_started = std::make_shared<Latch>();
  FakeOpSpec left = Spec("left");
  left.started = left_started;
  left.wait_for = right_started;
  FakeOpSpec right = Spec("right");
  right.started = right_started;
  right.wait_for = left_started;
  VertexRef join = g_.Add("join", {g_.Add(left), g_.Add(right)});
  auto result = Run(solver, {join});
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(g_.world.max_running.load(), 2);
}

TEST_F(SolverTest, DiamondRunsSharedVertexOnce) {
  Solver solver = MakeSolver();
  VertexRef base = g_.Add("base");
  VertexRef l = g_.Add("l", {base});
  VertexRef r = g_.Add("r", {base});
  auto result = Run(solver, {g_.Add("top", {l, r})});
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->outputs[0]->Id(), "top(l(base()),r(base()))");
  EXPECT_EQ(g_.execs("base"), 1);
  EXPECT_EQ(g_.op("base").key_calls.load(), 1);
}

TEST_F(SolverTest, UnreachableVerticesNeverRun) {
  Solver solver = MakeSolver();
  VertexRef base = g_.Add("base");
  VertexRef used = g_.Add("used", {base});
  VertexRef unused = g_.Add("unused", {base});
  ASSERT_NE(unused, nullptr);
  auto result = Run(solver, {used});
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(g_.execs("unused"), 0);
  EXPECT_EQ(g_.op("unused").key_calls.load(), 0);
}

TEST_F(SolverTest, PerBuildMaxParallelismOneSerializes) {
  Solver solver = MakeSolver(2);
  std::vector<VertexRef> inputs;
  for (int i = 0; i < 4; ++i) {
    FakeOpSpec spec = Spec("leaf" + std::to_string(i));
    spec.sleep = absl::Milliseconds(15);
    inputs.push_back(g_.Add(spec));
  }
  auto result = Run(solver, {g_.Add("join", inputs)}, BuildOptions{.max_parallelism = 1});
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(g_.world.total_execs.load(), 5);
  EXPECT_EQ(g_.world.max_running.load(), 1);
}

TEST_F(SolverTest, SolverWideMaxParallelismOneSerializes) {
  Solver solver = MakeSolver(1);
  EXPECT_EQ(solver.parallelism(), 1u);
  std::vector<VertexRef> inputs;
  for (int i = 0; i < 4; ++i) {
    FakeOpSpec spec = Spec("leaf" + std::to_string(i));
    spec.sleep = absl::Milliseconds(15);
    inputs.push_back(g_.Add(spec));
  }
  auto result = Run(solver, inputs);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(g_.world.max_running.load(), 1);
}

TEST_F(SolverTest, CacheHitsSkipExecAndReportCached) {
  Solver solver = MakeSolver();
  VertexRef a = g_.Add("a");
  VertexRef b = g_.Add("b", {a});
  auto first = Run(solver, {b});
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(cache_.saves(), 2);

  ProgressRecorder recorder;
  BuildRequest request;
  request.outputs = {b};
  request.progress = recorder.Sink();
  auto second = solver.Solve(request);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(g_.world.total_execs.load(), 2);  // nothing ran again
  EXPECT_EQ(cache_.hits(), 2);
  EXPECT_EQ(second->outputs[0], first->outputs[0]);  // the cached result object
  int cached = 0;
  for (const ProgressEvent& e : recorder.Events()) {
    if (e.kind == ProgressKind::kCached) ++cached;
    if (e.kind == ProgressKind::kCompleted) {
      EXPECT_TRUE(e.cached);
    }
  }
  EXPECT_EQ(cached, 2);
}

TEST_F(SolverTest, NoCacheBypassesLookupsButSaves) {
  Solver solver = MakeSolver();
  VertexRef b = g_.Add("b", {g_.Add("a")});
  ASSERT_TRUE(Run(solver, {b}).ok());
  int lookups = cache_.lookups();
  auto again = Run(solver, {b}, BuildOptions{.no_cache = true});
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(g_.world.total_execs.load(), 4);
  EXPECT_EQ(cache_.lookups(), lookups);
  EXPECT_EQ(cache_.saves(), 4);
}

TEST_F(SolverTest, VanishedCacheRecordIsAMissAndReruns) {
  Solver solver = MakeSolver();
  VertexRef a = g_.Add("a");
  ASSERT_TRUE(Run(solver, {a}).ok());
  cache_.Vanish(testing::FakeCacheKey("a"));
  auto again = Run(solver, {a});
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(g_.execs("a"), 2);
}

TEST_F(SolverTest, EarlyCutoffOnInputContent) {
  Solver solver = MakeSolver();
  // Two different builders that produce identical bytes; the consumer keys on the bytes.
  FakeOpSpec builder1 = Spec("builder v1");
  builder1.content = "binary";
  FakeOpSpec builder2 = Spec("builder v2");
  builder2.content = "binary";
  FakeOpSpec copy = Spec("copy --from=builder");
  copy.key_from_input_content = true;
  VertexRef out1 = g_.Add(copy, {g_.Add(builder1)});
  ASSERT_TRUE(Run(solver, {out1}).ok());
  FakeGraph g2;
  VertexRef out2 = g2.Add(copy, {g2.Add(builder2)});
  ASSERT_NE(out1->digest(), out2->digest());
  auto result = Run(solver, {out2});
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(g2.execs("builder v2"), 1);
  EXPECT_EQ(g2.execs("copy --from=builder"), 0);  // cut off: cache hit on content
}

TEST_F(SolverTest, EqualCacheKeysInOneBuildRunOnce) {
  Solver solver = MakeSolver(2);
  FakeOpSpec x = Spec("x");
  x.key = "same";
  x.sleep = absl::Milliseconds(30);
  FakeOpSpec y = Spec("y");
  y.key = "same";
  y.sleep = absl::Milliseconds(30);
  VertexRef vx = g_.Add(x);
  VertexRef vy = g_.Add(y);
  auto result = Run(solver, {vx, vy}, BuildOptions{.no_cache = true});
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(g_.execs("x") + g_.execs("y"), 1);
  EXPECT_EQ(result->outputs[0], result->outputs[1]);
}

TEST_F(SolverTest, FailedStepSkipsItsDependents) {
  Solver solver = MakeSolver();
  FakeOpSpec bad = Spec("bad");
  bad.fail = absl::NotFoundError("open 'x': no such file");
  VertexRef after = g_.Add("after", {g_.Add(bad)});
  auto result = Run(solver, {after});
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(result.status().message(), "step 'bad': open 'x': no such file");
  EXPECT_EQ(g_.execs("after"), 0);
  EXPECT_EQ(g_.op("after").key_calls.load(), 0);
  EXPECT_EQ(cache_.saves(), 0);
}

TEST_F(SolverTest, FirstFailureCancelsTheRestWithExitCodeAndTail) {
  Solver solver(
      SolverOptions{.max_parallelism = 2, .cache = &cache_, .clock = &clock_, .log_tail_lines = 3});
  auto slow_started = std::make_shared<Latch>();
  FakeOpSpec slow = Spec("[stage-a 2/2] RUN sleep infinity");
  slow.started = slow_started;
  slow.block_until_cancelled = true;
  FakeOpSpec bad = Spec("[stage-b 3/4] RUN make");
  bad.wait_for = slow_started;  // fail only once the other branch is running
  bad.log_lines = {"line 1", "line 2", "line 3", "line 4", "cc: error: x.c"};
  bad.exit_code = 2;
  VertexRef vslow = g_.Add(slow);
  VertexRef vbad = g_.Add(bad);
  VertexRef join = g_.Add("join", {vslow, g_.Add("after-bad", {vbad})});
  auto result = Run(solver, {join});
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().message(),
            "step '[stage-b 3/4] RUN make': process \"[stage-b 3/4] RUN make\" did not complete "
            "successfully: exit code: 2\nlast 3 lines of output:\n  > line 3\n  > line 4\n"
            "  > cc: error: x.c");
  std::optional<StepFailure> failure = StepFailureOf(result.status());
  ASSERT_TRUE(failure.has_value());
  EXPECT_EQ(failure->vertex_name, "[stage-b 3/4] RUN make");
  EXPECT_EQ(failure->vertex_digest, vbad->digest().str());
  EXPECT_EQ(failure->exit_code, 2);
  EXPECT_EQ(failure->log_tail.size(), 3u);
  EXPECT_TRUE(g_.op("[stage-a 2/2] RUN sleep infinity").saw_cancel.load());
  EXPECT_EQ(g_.execs("join"), 0);
  EXPECT_EQ(g_.execs("after-bad"), 0);
  EXPECT_EQ(g_.world.results->live.load(), 0);
}

TEST_F(SolverTest, ExternalCancelReturnsPromptlyAndReleasesResults) {
  Solver solver = MakeSolver(2);
  auto blocked = std::make_shared<Latch>();
  FakeOpSpec hang = Spec("hang");
  hang.started = blocked;
  hang.block_until_cancelled = true;
  VertexRef done = g_.Add("done");
  VertexRef top = g_.Add("top", {g_.Add(hang, {done})});
  Cancellation cancel;
  BuildRequest request;
  request.outputs = {top};
  request.cancel = &cancel;
  std::thread canceller([&] {
    ASSERT_TRUE(blocked->Wait());
    cancel.Cancel();
  });
  auto result = solver.Solve(request);
  canceller.join();
  EXPECT_EQ(result.status().code(), absl::StatusCode::kCancelled);
  EXPECT_TRUE(g_.op("hang").saw_cancel.load());
  EXPECT_EQ(g_.execs("top"), 0);
  // "done"'s result is in the cache; drop the cache's copy and nothing may be left.
  cache_.Clear();
  EXPECT_EQ(g_.world.results->created.load(), 1);
  EXPECT_EQ(g_.world.results->live.load(), 0);
}

TEST_F(SolverTest, CancelledBeforeStartReturnsCancelled) {
  Solver solver = MakeSolver();
  Cancellation cancel;
  cancel.Cancel();
  BuildRequest request;
  request.outputs = {g_.Add("a")};
  request.cancel = &cancel;
  auto result = solver.Solve(request);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kCancelled);
}

}  // namespace
}  // namespace kiln::engine::solver
