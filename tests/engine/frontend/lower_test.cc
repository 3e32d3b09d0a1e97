#include "engine/frontend/lower.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/engine/frontend/fake_image_resolver.h"

namespace kiln::engine {
namespace {

namespace fs = std::filesystem;
using graph::ExecOp;
using graph::FileOp;
using graph::SourceOp;
using graph::Vertex;

const char kGoldenMultiStage[] =
    "7db9ce413d9b source [-] [builder 1/4] FROM golang:1.19 AS builder\n"
    "0fab1725e502 file [7db9ce413d9b] [builder 2/4] WORKDIR /myapp\n"
    "1e287583e4da source [-] [context] welcome.go\n"
    "44fd58b1b8f1 file [0fab1725e502,1e287583e4da] [builder 3/4] COPY welcome.go .\n"
    "dde0c3314a1c exec [44fd58b1b8f1] [builder 4/4] RUN CGO_ENABLED=0 go build -o welcome welcome.go\n"
    "70886e786367 source [-] [stage-1 1/4] FROM scratch\n"
    "f3f1f59e78ca file [70886e786367] [stage-1 2/4] WORKDIR /myapp\n"
    "9351be8b74fe file [f3f1f59e78ca,dde0c3314a1c] [stage-1 3/4] COPY --from=builder /myapp/welcome .\n";

std::string ReadFile(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

fs::path Examples() {
  const char* shared = std::getenv("KILN_SHARED_DIR");
  if (shared == nullptr) {
    ADD_FAILURE() << "KILN_SHARED_DIR is not set: cannot find the example Dockerfiles";
    return {};
  }
  return fs::path(shared) / "examples";
}

const Vertex* FindByInstruction(const graph::Graph& g, std::string_view prefix) {
  for (const Vertex& v : g.vertices()) {
    if (v.meta.instruction.rfind(prefix, 0) == 0) return &v;
  }
  return nullptr;
}

TEST(LowerExamplesTest, EveryExampleLowers) {
  fs::path dir = Examples();
  ASSERT_FALSE(dir.empty());
  int lowered = 0;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    std::string name = e.path().filename().string();
    if (!e.is_regular_file() || name.rfind("Dockerfile", 0) != 0) continue;
    LowerOptions opt;
    opt.filename = name;
    absl::StatusOr<LoweredBuild> b = Lower(ReadFile(e.path()), opt);
    ASSERT_TRUE(b.ok()) << e.path() << ": " << b.status();
    EXPECT_GT(b->graph.size(), 1u) << e.path();
    ++lowered;
  }
  EXPECT_GE(lowered, 8);
}

TEST(LowerExamplesTest, ParallelStagesHasThreeBranchesAndNoUnusedStage) {
  absl::StatusOr<LoweredBuild> b = Lower(ReadFile(Examples() / "parallel-stages" / "Dockerfile"));
  ASSERT_TRUE(b.ok()) << b.status();
  const graph::Graph& g = b->graph;
  std::vector<const Vertex*> runs;
  for (const Vertex& v : g.vertices()) {
    EXPECT_NE(v.meta.stage, "unused");
    if (const auto* ex = std::get_if<ExecOp>(&v.op)) {
      EXPECT_EQ(ex->args.back().find("exit 1"), std::string::npos);
      runs.push_back(&v);
    }
  }
  ASSERT_EQ(runs.size(), 3u);
  // Independent branches: all three RUNs hang off the same (merged) busybox source only.
  for (const Vertex* r : runs) {
    ASSERT_EQ(r->inputs.size(), 1u);
    EXPECT_EQ(r->inputs[0], runs[0]->inputs[0]);
    EXPECT_TRUE(std::holds_alternative<SourceOp>(g.vertex(r->inputs[0]).op));
  }
  EXPECT_EQ(g.vertex(runs[0]->inputs[0]).merged, 2);  // a's, b's and c's FROM are one vertex
  EXPECT_EQ(b->graph.vertex(b->final_vertex).meta.instruction, "COPY --from=c /out /c");
  EXPECT_EQ(g.size(), 8u);
  EXPECT_EQ(b->target_stage, "stage-4");
}

TEST(LowerExamplesTest, MultiStageBusyboxTargetBuilderStopsAtBuilder) {
  std::string df = ReadFile(Examples() / "multi-stage-busybox" / "Dockerfile");
  LowerOptions opt;
  opt.target = "builder";
  absl::StatusOr<LoweredBuild> b = Lower(df, opt);
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(b->target_stage, "builder");
  EXPECT_EQ(b->graph.vertex(b->final_vertex).meta.instruction,
            "RUN CGO_ENABLED=0 go build -o welcome welcome.go");
  for (const Vertex& v : b->graph.vertices()) EXPECT_NE(v.meta.stage, "runtime");
  EXPECT_EQ(b->graph.size(), 5u);  // golang, WORKDIR, context, COPY, RUN
  EXPECT_EQ(b->config.working_dir, "/myapp");

  absl::StatusOr<LoweredBuild> full = Lower(df);
  ASSERT_TRUE(full.ok());
  EXPECT_EQ(full->graph.size(), 8u);
  // COPY --from=0 uses the builder's RUN output.
  const Vertex* copy = FindByInstruction(full->graph, "COPY --from=0");
  ASSERT_NE(copy, nullptr);
  EXPECT_EQ(full->graph.vertex(copy->inputs[1]).digest,
            b->graph.vertex(b->final_vertex).digest);
  EXPECT_EQ(full->config.entrypoint, (std::vector<std::string>{"./welcome"}));
  EXPECT_FALSE(full->config.cmd.has_value());  // ENTRYPOINT reset busybox's inherited CMD
}

TEST(LowerExamplesTest, GoldenDigestsAreStable) {
  absl::StatusOr<LoweredBuild> b = Lower(ReadFile(Examples() / "multi-stage" / "Dockerfile"));
  ASSERT_TRUE(b.ok()) << b.status();
  std::string text = graph::RenderText(b->graph);
  // Recorded output: a change here means the op serialization or digest recipe changed.
  EXPECT_EQ(text, kGoldenMultiStage) << text;
}

}  // namespace
}  // namespace kiln::engine
