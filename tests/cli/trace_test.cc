// `kilnctl build --trace FILE --metadata-file FILE` end to end: a private kilnd, the real
// kilnctl binary, a real build of $KILN_SHARED_DIR/examples/parallel-stages (three independent
// `sleep 2` stages). Checks that the trace is Chrome trace-event JSON (traceEvents, "X" spans
// with ts/dur in microseconds, pid/tid, a named track per worker thread), that it has exactly
// one span per step the build reported, with its cache status, that the three independent
// RUN steps overlap in time on different tracks, and that the metadata file has the image and
// config digests and per-step timings, and that `kilnctl debug graph --root` shows the digests
// the build reports. Base images: tools/images/build.sh.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "base/temp_dir.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/daemon/test_util.h"

namespace kiln::tools {
namespace {

using ::kiln::testing::Child;
using ::kiln::testing::ProcessResult;
using json = nlohmann::json;

std::string EnvOr(const char* name, const char* fallback) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' ? value : fallback;
}

// A step as the build reported it on its rawjson progress stream.
struct ReportedStep {
  std::string name;
  std::string vertex;
  bool cached = false;
  std::set<int> workers;
};

// One `kilnctl build` with every output file, parsed.
struct TracedBuild {
  ProcessResult run;
  double wall_us = 0;
  std::map<int, ReportedStep> steps;  // by index
  json trace;
  json metadata;
};

class TraceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = base::TempDir::Create("kiln-trace-");
    ASSERT_TRUE(dir.ok()) << dir.status();
    dir_ = std::move(*dir);
    addr_ = "unix://" + dir_.path() + "/kilnd.sock";
    kilnd_ = Child::Start({testing::KilndPath(), "--addr", addr_, "--root", dir_.path() + "/root",
                           "--config", "/dev/null"});
    ASSERT_GT(kilnd_.pid(), 0) << "could not start " << testing::KilndPath();
    absl::Time deadline = absl::Now() + absl::Seconds(90);
    bool up = false;
    while (!up && absl::Now() < deadline) {
      up = testing::Run(Kilnctl({"du"}), {}, absl::Seconds(30)).exit_code == 0;
      if (!up) absl::SleepFor(absl::Milliseconds(50));
    }
    ASSERT_TRUE(up) << "kilnd did not answer at " << addr_ << ": "
                    << kilnd_.Wait(absl::Seconds(1)).err;
    std::string image = EnvOr("KILN_IMAGES_DIR", "/var/cache/kiln/images") + "/busybox-1.35";
    ASSERT_EQ(access(image.c_str(), R_OK), 0)
        << "base image " << image << " is missing: run tools/images/build.sh";
    ProcessResult imported =
        testing::Run(Kilnctl({"image", "import", image, "--name", "busybox:1.35"}));
    ASSERT_EQ(imported.exit_code, 0) << imported.err;
  }

  void TearDown() override {
    if (kilnd_.pid() > 0) {
      kill(kilnd_.pid(), SIGTERM);
      ProcessResult done = kilnd_.Wait(absl::Seconds(60));
      EXPECT_EQ(done.exit_code, 0) << "kilnd: " << done.err;
    }
  }

  std::vector<std::string> Kilnctl(std::vector<std::string> args) const {
    std::vector<std::string> argv = {testing::KilnctlPath()};
    argv.insert(argv.end(), args.begin(), args.end());
    argv.push_back("--addr");  // after the (sub)subcommand it belongs to
    argv.push_back(addr_);
    return argv;
  }

  TracedBuild Build(const std::string& context, const std::string& name) {
    TracedBuild b;
    std::string trace = absl::StrCat(dir_.path(), "/", name, ".trace.json");
    std::string meta = absl::StrCat(dir_.path(), "/", name, ".meta.json");
    absl::Time start = absl::Now();
    b.run = testing::Run(Kilnctl({"build", "--progress", "rawjson", "--trace", trace,
                                  "--metadata-file", meta, "-t", "trace-test/parallel:1", context}),
                         {}, absl::Seconds(600));
    b.wall_us = absl::ToDoubleMicroseconds(absl::Now() - start);
    EXPECT_EQ(b.run.exit_code, 0) << "kilnctl build " << context << ":\n" << b.run.err;
    for (absl::string_view line : absl::StrSplit(b.run.err, '\n', absl::SkipEmpty())) {
      json event = json::parse(line.begin(), line.end(), nullptr, false);
      if (event.is_discarded() || !event.contains("index")) continue;
      ReportedStep& step = b.steps[event["index"].get<int>()];
      if (!event["name"].get<std::string>().empty()) step.name = event["name"];
      step.vertex = event["vertex"];
      if (event["kind"] == "cached" || (event["kind"] == "completed" && event["cached"])) {
        step.cached = true;
      }
      if (event["worker"].get<int>() >= 0) step.workers.insert(event["worker"].get<int>());
    }
    b.trace = json::parse(testing::ReadFile(trace), nullptr, false);
    b.metadata = json::parse(testing::ReadFile(meta), nullptr, false);
    return b;
  }

  base::TempDir dir_;
  std::string addr_;
  Child kilnd_;
};

// The trace-event format checks that do not depend on the build: a JSON object with a
// traceEvents array whose events all have ph/pid/tid/name, "X" spans with numeric ts/dur, and
// a thread_name for every track a span is on. Returns the spans.
std::vector<json> CheckTraceFormat(const json& trace) {
  std::vector<json> spans;
  EXPECT_TRUE(trace.is_object()) << "trace is not a JSON object";
  if (!trace.is_object() || !trace.contains("traceEvents")) {
    ADD_FAILURE() << "no traceEvents in " << trace.dump().substr(0, 500);
    return spans;
  }
  EXPECT_TRUE(trace["traceEvents"].is_array());
  std::set<int> named_tracks;
  for (const json& e : trace["traceEvents"]) {
    if (!e.contains("ph") || !e.contains("pid") || !e.contains("tid") || !e.contains("name")) {
      ADD_FAILURE() << "event without ph/pid/tid/name: " << e.dump();
      continue;
    }
    EXPECT_TRUE(e["pid"].is_number_integer() && e["tid"].is_number_integer()) << e.dump();
    std::string ph = e["ph"];
    EXPECT_TRUE(ph == "X" || ph == "M" || ph == "B" || ph == "E" || ph == "i") << e.dump();
    if (ph == "M" && e["name"] == "thread_name") {
      EXPECT_TRUE(e["args"]["name"].is_string()) << e.dump();
      named_tracks.insert(e["tid"].get<int>());
    }
    if (ph == "X") {
      EXPECT_TRUE(e["ts"].is_number() && e["dur"].is_number()) << e.dump();
      EXPECT_GE(e["ts"].get<double>(), 0) << e.dump();
      EXPECT_GE(e["dur"].get<double>(), 0) << e.dump();
      spans.push_back(e);
    }
  }
  for (const json& s : spans) {
    EXPECT_TRUE(named_tracks.count(s["tid"].get<int>()))
        << "track without a thread_name: " << s.dump();
  }
  return spans;
}

// Exactly one span per reported step, with the step's vertex, name and cache status.
void CheckOneSpanPerStep(const TracedBuild& b, const std::vector<json>& spans) {
  ASSERT_FALSE(b.steps.empty()) << "the build reported no steps:\n" << b.run.err;
  std::map<int, json> by_index;
  for (const json& s : spans) {
    ASSERT_TRUE(s.contains("args") && s["args"].contains("index")) << s.dump();
    int index = s["args"]["index"];
    EXPECT_TRUE(by_index.emplace(index, s).second) << "two spans for step #" << index;
  }
  EXPECT_EQ(by_index.size(), b.steps.size());
  for (const auto& [index, step] : b.steps) {
    SCOPED_TRACE(absl::StrCat("step #", index, " ", step.name));
    auto it = by_index.find(index);
    ASSERT_NE(it, by_index.end()) << "no span for a step the build reported";
    const json& span = it->second;
    EXPECT_TRUE(absl::StrContains(span["name"].get<std::string>(), step.name)) << span.dump();
    EXPECT_EQ(span["args"]["vertex"], step.vertex);
    ASSERT_TRUE(span["args"].contains("cache")) << span.dump();
    EXPECT_EQ(span["args"]["cache"], step.cached ? "hit" : "miss") << span.dump();
    if (!step.workers.empty()) {
      // Track = worker thread the step ran on (tid = worker + 1; 0 = no worker).
      EXPECT_TRUE(step.workers.count(span["tid"].get<int>() - 1)) << span.dump();
    }
  }
}

const json* SpanNamed(const std::vector<json>& spans, const std::string& part) {
  for (const json& s : spans) {
    if (absl::StrContains(s["name"].get<std::string>(), part)) return &s;
  }
  return nullptr;
}

void CheckMetadata(const TracedBuild& b) {
  const json& m = b.metadata;
  ASSERT_TRUE(m.is_object()) << "metadata file is not JSON";
  std::regex digest("sha256:[0-9a-f]{64}");
  ASSERT_TRUE(m.contains("containerimage.digest")) << m.dump();
  ASSERT_TRUE(m.contains("containerimage.config.digest")) << m.dump();
  EXPECT_TRUE(std::regex_match(m["containerimage.digest"].get<std::string>(), digest));
  EXPECT_TRUE(std::regex_match(m["containerimage.config.digest"].get<std::string>(), digest));
  EXPECT_NE(m["containerimage.digest"], m["containerimage.config.digest"]);
  ASSERT_TRUE(m.contains("kiln.build.steps") && m["kiln.build.steps"].is_array()) << m.dump();
  std::set<std::string> reported;
  for (const auto& [index, step] : b.steps) reported.insert(step.vertex);
  int runs = 0;
  for (const json& step : m["kiln.build.steps"]) {
    ASSERT_TRUE(step.contains("vertex") && step.contains("name") && step.contains("started") &&
                step.contains("completed") && step.contains("duration_seconds") &&
                step.contains("cached"))
        << step.dump();
    EXPECT_TRUE(reported.count(step["vertex"].get<std::string>())) << step.dump();
    double seconds = step["duration_seconds"];
    EXPECT_GE(seconds, 0) << step.dump();
    std::string name = step["name"];
    if (absl::StrContains(name, "] RUN sleep 2") && !step["cached"].get<bool>()) {
      ++runs;
      EXPECT_GE(seconds, 1.9) << "a `sleep 2` step cannot take less: " << step.dump();
    }
  }
  if (!b.steps.empty() && !b.steps.begin()->second.cached) {
    EXPECT_EQ(runs, 3) << "expected three timed RUN steps: " << m.dump();
  }
}

TEST_F(TraceTest, ParallelStagesTraceAndMetadata) {
  std::string context = EnvOr("KILN_SHARED_DIR", "/work/shared") + "/examples/parallel-stages";
  TracedBuild cold = Build(context, "cold");
  ASSERT_EQ(cold.run.exit_code, 0);
  std::vector<json> spans = CheckTraceFormat(cold.trace);
  CheckOneSpanPerStep(cold, spans);
  CheckMetadata(cold);
  EXPECT_EQ(SpanNamed(spans, "unused"), nullptr) << "the unused stage appears in the trace";

  // ts/dur are microseconds: the whole timeline fits in the client's wall time, and each
  // `sleep 2` RUN lasts at least 1.9e6 us.
  double first = 1e300, last = 0;
  for (const json& s : spans) {
    first = std::min(first, s["ts"].get<double>());
    last = std::max(last, s["ts"].get<double>() + s["dur"].get<double>());
  }
  EXPECT_LE(last - first, cold.wall_us) << "timeline longer than the build: not microseconds?";
  std::vector<const json*> runs;
  for (const char* stage : {"[a 2/2] RUN", "[b 2/2] RUN", "[c 2/2] RUN"}) {
    const json* span = SpanNamed(spans, stage);
    ASSERT_NE(span, nullptr) << "no span for " << stage;
    EXPECT_EQ((*span)["args"]["cache"], "miss") << span->dump();
    EXPECT_GE((*span)["dur"].get<double>(), 1.9e6) << span->dump();
    EXPECT_LE((*span)["dur"].get<double>(), cold.wall_us) << span->dump();
    runs.push_back(span);
  }
  // The three independent branches overlap: each pair shares some time, on different tracks.
  for (size_t i = 0; i < runs.size(); ++i) {
    for (size_t j = i + 1; j < runs.size(); ++j) {
      const json& a = *runs[i];
      const json& b = *runs[j];
      double a0 = a["ts"], a1 = a0 + a["dur"].get<double>();
      double b0 = b["ts"], b1 = b0 + b["dur"].get<double>();
      EXPECT_LT(std::max(a0, b0), std::min(a1, b1)) << "not parallel:\n"
                                                    << a.dump() << "\n"
                                                    << b.dump();
      EXPECT_NE(a["tid"], b["tid"]) << "overlapping steps on one track:\n"
                                    << a.dump() << "\n"
                                    << b.dump();
    }
  }

  // A no-op rebuild: same steps, every RUN/COPY span is a cache hit.
  TracedBuild warm = Build(context, "warm");
  ASSERT_EQ(warm.run.exit_code, 0);
  std::vector<json> warm_spans = CheckTraceFormat(warm.trace);
  CheckOneSpanPerStep(warm, warm_spans);
  CheckMetadata(warm);
  int hits = 0;
  for (const json& s : warm_spans) {
    std::string name = s["name"];
    if (absl::StrContains(name, "] RUN ") || absl::StrContains(name, "] COPY ")) {
      EXPECT_EQ(s["args"]["cache"], "hit") << s.dump();
      ++hits;
    }
  }
  EXPECT_EQ(hits, 6) << "expected 3 RUN + 3 COPY spans on the rebuild";
  EXPECT_EQ(warm.metadata["containerimage.digest"], cold.metadata["containerimage.digest"]);
}

// One DAG digest: every vertex digest that rawjson progress, the trace and the metadata file
// show is one `kilnctl debug graph --root` prints for the same Dockerfile and state root.
TEST_F(TraceTest, DebugGraphProgressTraceAndMetadataShowTheSameDigests) {
  std::string context = EnvOr("KILN_SHARED_DIR", "/work/shared") + "/examples/parallel-stages";
  TracedBuild b = Build(context, "digests");
  ASSERT_EQ(b.run.exit_code, 0);
  ProcessResult graph =
      testing::Run({testing::KilnctlPath(), "debug", "graph", "--root", dir_.path() + "/root", "-f",
                    context + "/Dockerfile", context});
  ASSERT_EQ(graph.exit_code, 0) << graph.err;
  std::set<std::string> shown;  // short digests, first column
  for (absl::string_view line : absl::StrSplit(graph.out, '\n', absl::SkipEmpty())) {
    shown.insert(std::string(line.substr(0, line.find(' '))));
  }
  auto in_graph = [&](const std::string& vertex) {
    std::string hex = vertex.substr(vertex.find(':') + 1);
    return shown.count(hex.substr(0, 12)) > 0;
  };
  ASSERT_GE(b.steps.size(), 6u) << b.run.err;
  for (const auto& [index, step] : b.steps) {
    EXPECT_TRUE(in_graph(step.vertex))
        << "progress step " << step.name << " " << step.vertex << " not in:\n"
        << graph.out;
  }
  for (const json& span : CheckTraceFormat(b.trace)) {
    EXPECT_TRUE(in_graph(span["args"]["vertex"].get<std::string>())) << span.dump();
  }
  ASSERT_TRUE(b.metadata.contains("kiln.build.steps")) << b.metadata.dump();
  for (const json& step : b.metadata["kiln.build.steps"]) {
    EXPECT_TRUE(in_graph(step["vertex"].get<std::string>())) << step.dump();
  }
}

}  // namespace
}  // namespace kiln::tools
