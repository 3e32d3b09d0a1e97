// End-to-end builds of the shared examples through the real engine (issue: solver, cache and
// export): real snapshots, real sandboxed RUNs, real layers and images.
#include <chrono>
#include <map>

#include "tests/integration/engine_fixture.h"

namespace kiln::testing {
namespace {


TEST_F(EngineTest, MultiStageBuildsATinyImageThatPrintsItsLine) {
  EventLog log;
  auto req = Request(Example("multi-stage"));
  req.exports = {engine::ImageOutput{{"e2e/multi-stage:1"}}};
  auto r = engine_->Build(req, log.Sink(), nullptr);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_FALSE(r->manifest_digest.empty());
  EXPECT_LT(r->image_size_bytes, 8 << 20) << "the runtime image should be a few MB";
  int code = -1;
  std::string out = Run("e2e/multi-stage:1", {}, &code);
  EXPECT_EQ(code, 0);
  EXPECT_NE(out.find("Welcome to multi-stage builds"), std::string::npos) << out;

  // A second build is fully cached: no step runs.
  EventLog again;
  auto r2 = engine_->Build(req, again.Sink(), nullptr);
  ASSERT_TRUE(r2.ok()) << r2.status();
  for (const std::string& step : again.Executed()) {
    // Loading the build context is not a cacheable step (BuildKit shows it uncached too).
    EXPECT_NE(step.find("context"), std::string::npos) << "step re-ran: " << step;
  }
  EXPECT_EQ(r2->manifest_digest, r->manifest_digest);
}

TEST_F(EngineTest, ParallelStagesRunConcurrentlyAndSkipTheUnusedStage) {
  EventLog log;
  auto req = Request(Example("parallel-stages"));
  req.exports = {engine::ImageOutput{{"e2e/parallel:1"}}};
  auto start = std::chrono::steady_clock::now();
  auto r = engine_->Build(req, log.Sink(), nullptr);
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ASSERT_TRUE(r.ok()) << r.status();
  for (const auto& e : log.events()) {
    EXPECT_EQ(e.name.find("unused"), std::string::npos) << "the unused stage ran: " << e.name;
  }
  // The three `sleep 2` steps must run at the same time: every pair of their spans overlaps.
  std::map<std::string, std::pair<int64_t, int64_t>> spans;
  for (const auto& e : log.events()) {
    if (e.name.find("RUN sleep 2") == std::string::npos) continue;
    if (e.kind == engine::BuildEventKind::kStarted) spans[e.vertex].first = e.time_unix_nanos;
    if (e.kind == engine::BuildEventKind::kCompleted) spans[e.vertex].second = e.time_unix_nanos;
  }
  ASSERT_EQ(spans.size(), 3u);
  for (const auto& [a, sa] : spans) {
    for (const auto& [b, sb] : spans) {
      EXPECT_LT(sa.first, sb.second) << "steps ran one after the other";
      EXPECT_LT(sb.first, sa.second) << "steps ran one after the other";
    }
  }
  EXPECT_LT(secs, 6.0) << "three 2 s stages took as long as running them in sequence";
}

TEST_F(EngineTest, FailingStepNamesInstructionAndExitCode) {
  auto dir = base::TempDir::Create("kiln-e2e-ctx-");
  ASSERT_TRUE(dir.ok());
  {
    FILE* f = std::fopen((dir->path() + "/Dockerfile").c_str(), "w");
    std::fputs("FROM busybox:1.35\nRUN echo about to fail && exit 3\n", f);
    std::fclose(f);
  }
  auto r = engine_->Build(Request(dir->path()), nullptr, nullptr);
  ASSERT_FALSE(r.ok());
  std::string msg(r.status().message());
  EXPECT_NE(msg.find("exit code: 3"), std::string::npos) << msg;
  EXPECT_NE(msg.find("RUN echo about to fail"), std::string::npos) << msg;
  EXPECT_EQ(msg.rfind("Dockerfile:2: ", 0), 0u) << "the error must start with file:line: " << msg;
  EXPECT_NE(msg.find("about to fail"), msg.rfind("about to fail")) << "log tail missing: " << msg;
}

}  // namespace
}  // namespace kiln::testing
