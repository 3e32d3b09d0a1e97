// Progress events, step timings and the Chrome trace.
#include <gtest/gtest.h>

#include <map>

#include "engine/solver/solver.h"
#include "engine/solver/trace.h"
#include "nlohmann/json.hpp"
#include "tests/fakes/solver_fakes.h"

namespace kiln::engine::solver {
namespace {

using testing::FakeGraph;
using testing::FakeOpSpec;
using testing::InMemoryCache;

class SolverProgressTest : public ::testing::Test {
 protected:
  std::vector<ProgressEvent> Build(std::vector<VertexRef> outputs, bool expect_ok = true) {
    ProgressRecorder recorder;
    BuildRequest request;
    request.outputs = std::move(outputs);
    request.progress = recorder.Sink();
    auto result = solver_.Solve(request);
    EXPECT_EQ(result.ok(), expect_ok) << result.status();
    return recorder.Events();
  }
  // Kinds of events per vertex name, in order.
  static std::map<std::string, std::vector<ProgressKind>> ByVertex(
      const std::vector<ProgressEvent>& events) {
    std::map<std::string, std::vector<ProgressKind>> out;
    for (const ProgressEvent& e : events) out[e.vertex->name()].push_back(e.kind);
    return out;
  }

  FakeGraph g_;
  InMemoryCache cache_;
  testing::FakeClock clock_;
  Solver solver_{SolverOptions{.max_parallelism = 2, .cache = &cache_, .clock = &clock_}};
};

TEST_F(SolverProgressTest, EventsPerVertexComeInOrder) {
  FakeOpSpec logger;
  logger.definition = "logger";
  logger.log_lines = {"hello", "world"};
  VertexRef top = g_.Add("top", {g_.Add(logger), g_.Add("quiet")});
  std::vector<ProgressEvent> events = Build({top});
  auto by = ByVertex(events);
  using K = ProgressKind;
  EXPECT_EQ(by["logger"],
            (std::vector<K>{K::kStarted, K::kLog, K::kLog, K::kProgress, K::kCompleted}));
  EXPECT_EQ(by["quiet"], (std::vector<K>{K::kStarted, K::kProgress, K::kCompleted}));
  EXPECT_EQ(by["top"], (std::vector<K>{K::kStarted, K::kProgress, K::kCompleted}));
  // Timestamps increase within a vertex; inputs complete before their dependent starts.
  std::map<std::string, absl::Time> last, started, completed;
  for (const ProgressEvent& e : events) {
    const std::string& name = e.vertex->name();
    if (last.contains(name)) {
      EXPECT_GT(e.time, last[name]);
    }
    last[name] = e.time;
    if (e.kind == K::kStarted) started[name] = e.time;
    if (e.kind == K::kCompleted) completed[name] = e.time;
    EXPECT_GE(e.worker, 0);
    EXPECT_LT(e.worker, 2);
    if (e.kind == K::kLog) {
      EXPECT_EQ(e.stream, LogStream::kStdout);
    }
    if (e.kind == K::kProgress) {
      EXPECT_EQ(e.current, 1);
      EXPECT_EQ(e.total, 2);
    }
  }
  EXPECT_LT(completed["logger"], started["top"]);
  EXPECT_LT(completed["quiet"], started["top"]);
  std::string logged;
  for (const ProgressEvent& e : events) {
    if (e.kind == K::kLog) logged += e.data;
  }
  EXPECT_EQ(logged, "hello\nworld\n");
}

TEST_F(SolverProgressTest, CachedVerticesReportStartedCachedCompleted) {
  VertexRef top = g_.Add("top", {g_.Add("a")});
  Build({top});
  auto by = ByVertex(Build({top}));
  using K = ProgressKind;
  EXPECT_EQ(by["a"], (std::vector<K>{K::kStarted, K::kCached, K::kCompleted}));
  EXPECT_EQ(by["top"], (std::vector<K>{K::kStarted, K::kCached, K::kCompleted}));
}

TEST_F(SolverProgressTest, FailedVertexReportsErrorAndSkippedOnesNothing) {
  FakeOpSpec bad;
  bad.definition = "bad";
  bad.exit_code = 1;
  VertexRef top = g_.Add("top", {g_.Add(bad)});
  std::vector<ProgressEvent> events = Build({top}, /*expect_ok=*/false);
  auto by = ByVertex(events);
  using K = ProgressKind;
  EXPECT_EQ(by["bad"], (std::vector<K>{K::kStarted, K::kProgress, K::kError}));
  EXPECT_FALSE(by.contains("top"));
  for (const ProgressEvent& e : events) {
    if (e.kind == K::kError) {
      EXPECT_EQ(ExitCodeOf(e.status), 1);
    }
  }
}

TEST_F(SolverProgressTest, SummaryHasOneTimingPerStep) {
  VertexRef top = g_.Add("top", {g_.Add("a"), g_.Add("b")});
  std::vector<ProgressEvent> events = Build({top});
  std::vector<StepTiming> steps = SummarizeSteps(events);
  ASSERT_EQ(steps.size(), 3u);
  EXPECT_EQ(steps.back().name, "top");
  EXPECT_EQ(steps.back().vertex_digest, top->digest().str());
  for (const StepTiming& step : steps) {
    EXPECT_TRUE(step.finished_ok);
    EXPECT_FALSE(step.failed);
    EXPECT_FALSE(step.cached);
    EXPECT_GT(step.duration, absl::ZeroDuration());
    EXPECT_EQ(step.duration, step.finished - step.started);
  }
  std::vector<StepTiming> cached = SummarizeSteps(Build({top}));
  ASSERT_EQ(cached.size(), 3u);
  for (const StepTiming& step : cached) EXPECT_TRUE(step.cached);
}

TEST_F(SolverProgressTest, ChromeTraceIsValidJson) {
  FakeOpSpec weird;
  weird.definition = "bad utf8 \xff\xfe name";
  VertexRef top = g_.Add("top", {g_.Add(weird), g_.Add("b")});
  std::vector<ProgressEvent> events = Build({top});
  absl::StatusOr<std::string> json = ChromeTraceJson(events);
  ASSERT_TRUE(json.ok()) << json.status();
  nlohmann::json doc = nlohmann::json::parse(*json, nullptr, /*allow_exceptions=*/false);
  ASSERT_FALSE(doc.is_discarded()) << *json;
  ASSERT_TRUE(doc["traceEvents"].is_array());
  int spans = 0;
  for (const auto& e : doc["traceEvents"]) {
    if (e["ph"] == "M") {
      EXPECT_EQ(e["name"], "thread_name");
      continue;
    }
    ++spans;
    EXPECT_EQ(e["ph"], "X");
    EXPECT_TRUE(e["ts"].is_number_integer());
    EXPECT_GE(e["ts"].get<int64_t>(), 0);
    EXPECT_GE(e["dur"].get<int64_t>(), 1);  // fake clock: 1 us per reading
    EXPECT_GE(e["tid"].get<int>(), 0);
    EXPECT_LT(e["tid"].get<int>(), 2);
    EXPECT_EQ(e["args"]["cached"], false);
    EXPECT_EQ(e["args"]["vertex"].get<std::string>().rfind("sha256:", 0), 0u);
  }
  EXPECT_EQ(spans, 3);
}

TEST(SolverTraceTest, EmptyEventListGivesEmptyTrace) {
  absl::StatusOr<std::string> json = ChromeTraceJson({});
  ASSERT_TRUE(json.ok());
  nlohmann::json doc = nlohmann::json::parse(*json, nullptr, false);
  ASSERT_FALSE(doc.is_discarded());
  EXPECT_TRUE(doc["traceEvents"].empty());
}

}  // namespace
}  // namespace kiln::engine::solver
