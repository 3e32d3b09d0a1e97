// Unit tests of the solver's small pieces: Cancellation, LogTail, step errors, digests.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "engine/solver/cancellation.h"
#include "engine/solver/log_tail.h"
#include "engine/solver/step_error.h"
#include "engine/solver/vertex.h"
#include "tests/fakes/solver_fakes.h"

namespace kiln::engine::solver {
namespace {

using testing::FakeGraph;

TEST(SolverCancellationTest, CallbacksRunOnceOnCancel) {
  Cancellation cancel;
  int calls = 0;
  uint64_t id = cancel.AddCallback([&] { ++calls; });
  EXPECT_GT(id, 0u);
  EXPECT_FALSE(cancel.cancelled());
  cancel.Cancel();
  cancel.Cancel();
  EXPECT_TRUE(cancel.cancelled());
  EXPECT_EQ(calls, 1);
  // Already cancelled: runs right away.
  EXPECT_EQ(cancel.AddCallback([&] { ++calls; }), 0u);
  EXPECT_EQ(calls, 2);
}

TEST(SolverCancellationTest, RemovedCallbackNeverRuns) {
  Cancellation cancel;
  int calls = 0;
  uint64_t id = cancel.AddCallback([&] { ++calls; });
  cancel.RemoveCallback(id);
  cancel.Cancel();
  EXPECT_EQ(calls, 0);
}

TEST(SolverCancellationTest, WaitForWakesOnCancelFromAnotherThread) {
  Cancellation cancel;
  EXPECT_FALSE(cancel.WaitFor(absl::Milliseconds(1)));
  std::thread t([&] { cancel.Cancel(); });
  EXPECT_TRUE(cancel.WaitFor(absl::Seconds(30)));
  t.join();
}

TEST(SolverCancellationTest, RemoveWaitsForRunningCallback) {
  Cancellation cancel;
  testing::Latch entered;
  testing::Latch release;
  std::atomic<bool> finished{false};
  uint64_t id = cancel.AddCallback([&] {
    entered.Open();
    release.Wait();
    finished.store(true);
  });
  std::thread t([&] { cancel.Cancel(); });
  ASSERT_TRUE(entered.Wait());
  std::thread opener([&] {
    absl::SleepFor(absl::Milliseconds(20));
    release.Open();
  });
  cancel.RemoveCallback(id);
  EXPECT_TRUE(finished.load());  // RemoveCallback returned only after the callback ended
  t.join();
  opener.join();
}

TEST(SolverLogTailTest, KeepsLastLinesAcrossChunks) {
  internal::LogTail tail(3, 8);
  tail.Append("one\ntw");
  tail.Append("o\nthree\r\nfour\nfive-is-too-long\nsix");
  std::vector<std::string> lines = tail.Lines();
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0], "four");
  EXPECT_EQ(lines[1], "five-is-...");
  EXPECT_EQ(lines[2], "six");
}

TEST(SolverLogTailTest, EmptyWhenNothingLogged) {
  internal::LogTail tail(5, 100);
  EXPECT_TRUE(tail.Lines().empty());
}

TEST(SolverStepErrorTest, ProcessExitErrorCarriesExitCode) {
  absl::Status status = ProcessExitError("/bin/sh -c exit 3", 3);
  EXPECT_EQ(status.message(),
            "process \"/bin/sh -c exit 3\" did not complete successfully: exit code: 3");
  ASSERT_TRUE(ExitCodeOf(status).has_value());
  EXPECT_EQ(*ExitCodeOf(status), 3);
  EXPECT_FALSE(ExitCodeOf(absl::InternalError("x")).has_value());
  EXPECT_FALSE(StepFailureOf(status).has_value());
}

TEST(SolverStepErrorTest, StepErrorNamesVertexAndKeepsTail) {
  absl::Status step = internal::MakeStepError(ProcessExitError("make", 2), "[build 2/3] RUN make",
                                              "sha256:abc", {"cc -c x.c", "x.c:1: error"});
  EXPECT_EQ(step.code(), absl::StatusCode::kUnknown);
  EXPECT_EQ(step.message(),
            "step '[build 2/3] RUN make': process \"make\" did not complete successfully: "
            "exit code: 2\nlast 2 lines of output:\n  > cc -c x.c\n  > x.c:1: error");
  std::optional<StepFailure> failure = StepFailureOf(step);
  ASSERT_TRUE(failure.has_value());
  EXPECT_EQ(failure->vertex_name, "[build 2/3] RUN make");
  EXPECT_EQ(failure->vertex_digest, "sha256:abc");
  EXPECT_EQ(failure->exit_code, 2);
  EXPECT_EQ(failure->log_tail, (std::vector<std::string>{"cc -c x.c", "x.c:1: error"}));
}

// The solver takes the digest it is given (the build graph's): it never hashes a vertex.
TEST(SolverVertexTest, CarriesTheGivenDigest) {
  FakeGraph g;
  testing::FakeOpSpec spec;
  spec.definition = "exec /bin/sh -c make";
  auto op = std::make_shared<testing::FakeOp>(spec, &g.world);
  base::Digest given = base::Digest::Of("graph vertex");
  auto v = Vertex::Create(given, op, {}, VertexDisplay{"[1/1] RUN make", {{"line", "3"}}});
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ((*v)->digest(), given);
  // Same op, another digest: another vertex, whatever the op says.
  auto other = Vertex::Create(base::Digest::Of("other"), op, {}, VertexDisplay{});
  ASSERT_TRUE(other.ok());
  EXPECT_NE((*other)->digest(), (*v)->digest());
  // The fakes derive a digest from definition and inputs.
  VertexRef a = g.Add("source local://context");
  VertexRef b = g.Add("exec /bin/sh -c make", {a});
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->digest(), testing::FakeVertexDigest("exec /bin/sh -c make", {a}));
  EXPECT_NE(b->digest(), testing::FakeVertexDigest("exec /bin/sh -c make", {}));
}

TEST(SolverVertexTest, EmptyDigestNullOpOrInputIsInvalidArgument) {
  FakeGraph g;
  testing::FakeOpSpec spec;
  spec.definition = "d";
  auto op = std::make_shared<testing::FakeOp>(spec, &g.world);
  auto no_digest = Vertex::Create(base::Digest(), op, {}, VertexDisplay{"z", {}});
  EXPECT_EQ(no_digest.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(no_digest.status().message().find("digest is empty"), std::string::npos);
  auto no_op = Vertex::Create(base::Digest::Of("x"), nullptr, {}, VertexDisplay{"x", {}});
  EXPECT_EQ(no_op.status().code(), absl::StatusCode::kInvalidArgument);
  auto null_input = Vertex::Create(base::Digest::Of("y"), op, {nullptr}, VertexDisplay{"y", {}});
  EXPECT_EQ(null_input.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(null_input.status().message().find("input 0 is null"), std::string::npos);
}

}  // namespace
}  // namespace kiln::engine::solver
