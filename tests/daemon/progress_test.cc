// The progress views, trace and metadata, fed with fake events.
#include <cstdio>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "base/temp_dir.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/daemon/test_util.h"
#include "tools/kilnctl/progress.h"
#include "tools/kilnctl/progress_trace.h"

namespace kiln::tools {
namespace {

using engine::BuildEvent;
using engine::BuildEventKind;

constexpr int64_t kT0 = 1'700'000'000'000'000'000;

BuildEvent Ev(BuildEventKind kind, int index, const std::string& name, int64_t ms, int worker = 0,
              std::string data = "") {
  BuildEvent e;
  e.kind = kind;
  e.index = index;
  e.name = name;
  e.vertex = "sha256:" + std::string(64, static_cast<char>('0' + index));
  e.time_unix_nanos = kT0 + ms * 1'000'000;
  e.worker = worker;
  e.data = std::move(data);
  if (kind == BuildEventKind::kError) e.error = "exit code: 2";
  return e;
}

BuildEvent CachedDone(int index, const std::string& name, int64_t ms) {
  BuildEvent e = Ev(BuildEventKind::kCompleted, index, name, ms, -1);
  e.cached = true;
  return e;
}

// Two parallel steps on two workers, one cached step, one failing step. A cache hit comes as
// the engine sends it: kStarted, kCached, kCompleted{cached}.
std::vector<BuildEvent> Script(bool fail) {
  std::vector<BuildEvent> events = {
      Ev(BuildEventKind::kStarted, 1, "[base 1/1] FROM busybox:1.35", 0, -1),
      Ev(BuildEventKind::kCached, 1, "[base 1/1] FROM busybox:1.35", 0, -1),
      CachedDone(1, "[base 1/1] FROM busybox:1.35", 0),
      Ev(BuildEventKind::kStarted, 2, "[a 1/1] RUN sleep 1", 10, 0),
      Ev(BuildEventKind::kStarted, 3, "[b 1/1] RUN sleep 1", 12, 1),
      Ev(BuildEventKind::kLog, 2, "[a 1/1] RUN sleep 1", 512, 0, "line one\nline t"),
      Ev(BuildEventKind::kLog, 2, "[a 1/1] RUN sleep 1", 600, 0, "wo\n"),
      Ev(BuildEventKind::kCompleted, 2, "[a 1/1] RUN sleep 1", 1210, 0),
      Ev(BuildEventKind::kCompleted, 3, "[b 1/1] RUN sleep 1", 1300, 1),
  };
  if (fail) {
    events.push_back(Ev(BuildEventKind::kStarted, 4, "[c 1/1] RUN make", 1310, 0));
    events.push_back(Ev(BuildEventKind::kLog, 4, "[c 1/1] RUN make", 1400, 0, "cc: error 1\n"));
    events.push_back(Ev(BuildEventKind::kError, 4, "[c 1/1] RUN make", 1500, 0));
  }
  return events;
}

std::string Render(std::unique_ptr<ProgressWriter> (*make)(FILE*), bool fail) {
  char* buf = nullptr;
  size_t len = 0;
  FILE* out = open_memstream(&buf, &len);
  {
    auto writer = make(out);
    for (const BuildEvent& e : Script(fail)) writer->OnEvent(e);
    engine::BuildResult result;
    result.steps_total = 3;
    result.steps_cached = 1;
    writer->Finish(fail ? nullptr : &result,
                   fail ? absl::AbortedError("Dockerfile:7: RUN make: exit code 2")
                        : absl::OkStatus());
  }
  std::fclose(out);
  std::string text(buf, len);
  free(buf);
  return text;
}

TEST(PlainProgressTest, MatchesBuildKitPlainFormat) {
  std::string text = Render(&MakePlainProgress, false);
  EXPECT_EQ(text,
            "#1 [base 1/1] FROM busybox:1.35\n"
            "#1 CACHED\n"
            "\n#2 [a 1/1] RUN sleep 1\n"
            "\n#3 [b 1/1] RUN sleep 1\n"
            "\n#2 [a 1/1] RUN sleep 1\n"
            "#2 0.502 line one\n"
            "#2 0.590 line two\n"
            "#2 DONE 1.2s\n"
            "\n#3 [b 1/1] RUN sleep 1\n"
            "#3 DONE 1.3s\n");
}

// Regression: a cached `COPY --from` step printed "#N CACHED" twice (once for kCached, once
// for kCompleted{cached}), also when another step's output came in between.
TEST(PlainProgressTest, CachedStepPrintsCachedOnce) {
  char* buf = nullptr;
  size_t len = 0;
  FILE* out = open_memstream(&buf, &len);
  {
    auto writer = MakePlainProgress(out);
    const std::string copy = "[stage-1 2/2] COPY --from=builder /out/app /app";
    writer->OnEvent(Ev(BuildEventKind::kStarted, 5, copy, 0));
    writer->OnEvent(Ev(BuildEventKind::kCached, 5, copy, 1));
    writer->OnEvent(Ev(BuildEventKind::kLog, 2, "[a 1/1] RUN make", 2, 0, "hello\n"));
    writer->OnEvent(CachedDone(5, copy, 3));
    writer->Finish(nullptr, absl::OkStatus());
  }
  std::fclose(out);
  std::string text(buf, len);
  free(buf);
  EXPECT_EQ(text,
            "#5 [stage-1 2/2] COPY --from=builder /out/app /app\n"
            "#5 CACHED\n"
            "\n#2 [a 1/1] RUN make\n"
            "#2 0.000 hello\n");
}

TEST(PlainProgressTest, FailureShowsStepErrorLogTailAndMessage) {
  std::string text = Render(&MakePlainProgress, true);
  EXPECT_TRUE(absl::StrContains(text, "#4 ERROR: exit code: 2\n")) << text;
  EXPECT_TRUE(absl::StrContains(text, "------\n > [c 1/1] RUN make:\n#4 cc: error 1\n------\n"))
      << text;
  EXPECT_TRUE(absl::StrContains(text, "ERROR: Dockerfile:7: RUN make: exit code 2\n")) << text;
}

TEST(RawJsonProgressTest, OneJsonObjectPerEvent) {
  std::string text = Render(&MakeRawJsonProgress, false);
  std::vector<std::string> lines = absl::StrSplit(text, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), Script(false).size() + 1);
  std::vector<std::string> kinds;
  for (const std::string& line : lines) {
    nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
    ASSERT_FALSE(j.is_discarded()) << line;
    kinds.push_back(j["kind"].get<std::string>());
  }
  EXPECT_EQ(kinds, (std::vector<std::string>{"started", "cached", "completed", "started",
                                             "started", "log", "log", "completed", "completed",
                                             "result"}));
  nlohmann::json log = nlohmann::json::parse(lines[5]);
  EXPECT_EQ(log["data"], "line one\nline t");
  EXPECT_EQ(log["index"], 2);
  nlohmann::json last = nlohmann::json::parse(lines.back());
  EXPECT_EQ(last["ok"], true);
  EXPECT_EQ(last["steps_cached"], 1);
}

TEST(TtyProgressTest, FinalScreenHasStepsCachedAndSummary) {
  char* buf = nullptr;
  size_t len = 0;
  FILE* out = open_memstream(&buf, &len);
  {
    auto writer = MakeTtyProgress(out, 100);
    for (const BuildEvent& e : Script(false)) writer->OnEvent(e);
    engine::BuildResult result;
    result.steps_total = 3;
    result.steps_cached = 1;
    writer->Finish(&result, absl::OkStatus());
  }
  std::fclose(out);
  std::string text(buf, len);
  free(buf);
  EXPECT_TRUE(absl::StrContains(text, "#1 [base 1/1] FROM busybox:1.35")) << text;
  EXPECT_TRUE(absl::StrContains(text, "CACHED")) << text;
  EXPECT_TRUE(absl::StrContains(text, "DONE 1.2s")) << text;
  EXPECT_TRUE(absl::StrContains(text, "  > line one")) << text;  // live log tail
  EXPECT_TRUE(absl::StrContains(text, "\x1b[")) << "no redraw escapes";
  EXPECT_TRUE(absl::StrContains(text, "Build finished in ")) << text;
  EXPECT_TRUE(absl::StrContains(text, ": 3 steps, 1 cached\n")) << text;
}

TEST(TraceTest, ChromeTraceHasASpanPerStepAndParallelTracks) {
  TraceRecorder trace;
  for (const BuildEvent& e : Script(false)) trace.OnEvent(e);
  nlohmann::json doc = nlohmann::json::parse(trace.ToJson(), nullptr, false);
  ASSERT_FALSE(doc.is_discarded());
  ASSERT_TRUE(doc["traceEvents"].is_array());
  std::map<int, nlohmann::json> spans;
  std::set<int> named_tracks;
  for (const auto& e : doc["traceEvents"]) {
    if (e["ph"] == "X") spans[e["args"]["index"].get<int>()] = e;
    if (e["ph"] == "M" && e["name"] == "thread_name") named_tracks.insert(e["tid"].get<int>());
  }
  ASSERT_EQ(spans.size(), 3u);
  EXPECT_EQ(spans[1]["args"]["cache"], "hit");
  EXPECT_EQ(spans[2]["args"]["cache"], "miss");
  EXPECT_NE(spans[2]["tid"], spans[3]["tid"]) << "parallel steps share a track";
  EXPECT_EQ(named_tracks.size(), 3u);
  double a_start = spans[2]["ts"], a_end = a_start + spans[2]["dur"].get<double>();
  double b_start = spans[3]["ts"];
  EXPECT_LT(b_start, a_end) << "parallel spans do not overlap";
  EXPECT_DOUBLE_EQ(spans[2]["dur"].get<double>(), 1200.0 * 1000);
  EXPECT_DOUBLE_EQ(a_start, 10.0 * 1000);
}

TEST(MetadataTest, BuildctlStyleKeys) {
  engine::BuildRequest request;
  request.exports.push_back(engine::ImageOutput{{"app:1"}});
  engine::BuildResult result;
  result.manifest_digest = base::Digest::Of("m");
  result.config_digest = base::Digest::Of("c");
  result.steps_total = 1;
  result.steps.push_back(engine::StepTiming{"sha256:ab", "[1/1] RUN x", false, kT0,
                                            kT0 + 1'500'000'000});
  auto dir = base::TempDir::Create();
  ASSERT_TRUE(dir.ok());
  std::string path = dir->path() + "/meta.json";
  ASSERT_TRUE(WriteMetadataFile(path, request, result).ok());
  nlohmann::json doc = nlohmann::json::parse(testing::ReadFile(path), nullptr, false);
  ASSERT_FALSE(doc.is_discarded());
  EXPECT_EQ(doc["containerimage.digest"], base::Digest::Of("m").str());
  EXPECT_EQ(doc["containerimage.config.digest"], base::Digest::Of("c").str());
  EXPECT_EQ(doc["image.name"], "app:1");
  ASSERT_EQ(doc["kiln.build.steps"].size(), 1u);
  EXPECT_DOUBLE_EQ(doc["kiln.build.steps"][0]["duration_seconds"].get<double>(), 1.5);
  EXPECT_EQ(doc["kiln.build.steps"][0]["name"], "[1/1] RUN x");
}

}  // namespace
}  // namespace kiln::tools
