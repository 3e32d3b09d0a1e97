// Error paths: a failing cache seam, a broken op, and per-build limits with two builds.
#include <gtest/gtest.h>

#include <thread>

#include "engine/solver/solver.h"
#include "tests/fakes/solver_fakes.h"

namespace kiln::engine::solver {
namespace {

using testing::FakeGraph;
using testing::FakeOpSpec;
using testing::Latch;

// A cache seam whose index is broken.
class BrokenCache final : public CacheSeam {
 public:
  explicit BrokenCache(bool fail_lookup) : fail_lookup_(fail_lookup) {}
  absl::StatusOr<ResultRef> Lookup(const base::Digest&, const Vertex&) override {
    if (fail_lookup_) return absl::DataLossError("read index 'cache.mdb': checksum mismatch");
    return ResultRef();
  }
  absl::Status Save(const base::Digest&, const ResultRef&, const Vertex&) override {
    return absl::ResourceExhaustedError("write index 'cache.mdb': no space left on device");
  }

 private:
  bool fail_lookup_;
};

// Ops that misbehave.
class BadOp final : public Op {
 public:
  explicit BadOp(bool bad_key) : bad_key_(bad_key) {}
  absl::StatusOr<base::Digest> CacheKey(ExecContext&,
                                        const std::vector<InputRef>& inputs) const override {
    if (bad_key_) return absl::PermissionDeniedError("open 'secret': permission denied");
    return testing::FakeCacheKey("bad op", inputs);
  }
  absl::StatusOr<ResultRef> Exec(ExecContext&, const std::vector<InputRef>&) const override {
    return ResultRef();  // no result, no error
  }

 private:
  bool bad_key_;
};

absl::Status SolveOne(Solver& solver, VertexRef vertex) {
  BuildRequest request;
  request.outputs = {std::move(vertex)};
  return solver.Solve(request).status();
}

TEST(SolverErrorTest, CacheLookupErrorFailsTheStep) {
  BrokenCache cache(/*fail_lookup=*/true);
  Solver solver(SolverOptions{.max_parallelism = 2, .cache = &cache});
  FakeGraph g;
  absl::Status status = SolveOne(solver, g.Add("a"));
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(status.message(), "step 'a': cache lookup: read index 'cache.mdb': checksum mismatch");
  EXPECT_EQ(g.execs("a"), 0);
}

TEST(SolverErrorTest, CacheSaveErrorFailsTheStep) {
  BrokenCache cache(/*fail_lookup=*/false);
  Solver solver(SolverOptions{.max_parallelism = 2, .cache = &cache});
  FakeGraph g;
  absl::Status status = SolveOne(solver, g.Add("a"));
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(status.message(),
            "step 'a': cache save: write index 'cache.mdb': no space left on device");
  EXPECT_EQ(g.world.results->live.load(), 0);
}

TEST(SolverErrorTest, CacheKeyErrorFailsTheStep) {
  Solver solver(SolverOptions{.max_parallelism = 2});
  auto vertex =
      Vertex::Create(base::Digest::Of("bad key"), std::make_shared<BadOp>(true), {},
                     VertexDisplay{"[s 1/1] COPY", {}});
  ASSERT_TRUE(vertex.ok());
  absl::Status status = SolveOne(solver, *vertex);
  EXPECT_EQ(status.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(status.message(),
            "step '[s 1/1] COPY': compute cache key: open 'secret': permission denied");
}

TEST(SolverErrorTest, OpWithoutResultIsInternal) {
  Solver solver(SolverOptions{.max_parallelism = 2});
  auto vertex = Vertex::Create(base::Digest::Of("no result"), std::make_shared<BadOp>(false), {},
                               VertexDisplay{"x", {}});
  ASSERT_TRUE(vertex.ok());
  absl::Status status = SolveOne(solver, *vertex);
  EXPECT_EQ(status.code(), absl::StatusCode::kInternal);
  EXPECT_EQ(status.message(), "step 'x': op returned no result");
}

TEST(SolverErrorTest, DefaultParallelismIsOnePerCpu) {
  Solver solver(SolverOptions{});
  EXPECT_EQ(solver.parallelism(), std::max(1u, std::thread::hardware_concurrency()));
}

TEST(SolverErrorTest, NoCacheSeamRunsEverything) {
  Solver solver(SolverOptions{.max_parallelism = 2});
  FakeGraph g;
  VertexRef a = g.Add("a");
  ASSERT_TRUE(SolveOne(solver, a).ok());
  ASSERT_TRUE(SolveOne(solver, a).ok());
  EXPECT_EQ(g.execs("a"), 2);
}

// A build limited to one step at a time does not limit another build on the same solver.
TEST(SolverErrorTest, PerBuildLimitDoesNotThrottleOtherBuilds) {
  Solver solver(SolverOptions{.max_parallelism = 2});
  FakeGraph slow_graph;
  auto hold = std::make_shared<Latch>();
  auto held = std::make_shared<Latch>();
  FakeOpSpec blocker;
  blocker.definition = "blocker";
  blocker.started = held;
  blocker.wait_for = hold;
  VertexRef limited =
      slow_graph.Add("limited-join", {slow_graph.Add(blocker), slow_graph.Add("queued-behind")});
  absl::StatusOr<SolveResult> limited_result;
  std::thread t([&] {
    BuildRequest request;
    request.outputs = {limited};
    request.options.max_parallelism = 1;
    limited_result = solver.Solve(request);
  });
  ASSERT_TRUE(held->Wait());
  // The limited build has one step running and one queued; the other worker is free, and a
  // second build can use it while the first still holds its only slot.
  FakeGraph other;
  ASSERT_TRUE(SolveOne(solver, other.Add("other")).ok());
  EXPECT_EQ(other.execs("other"), 1);
  EXPECT_EQ(slow_graph.execs("queued-behind"), 0);
  hold->Open();
  t.join();
  ASSERT_TRUE(limited_result.ok()) << limited_result.status();
  EXPECT_EQ(slow_graph.execs("queued-behind"), 1);
}

}  // namespace
}  // namespace kiln::engine::solver
