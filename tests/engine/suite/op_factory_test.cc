// OpFactory: one DAG (solver vertices carry the graph's digests, in the graph's order), the
// shared scratch under file ops without a base, and errors for unregistered kinds.
#include "engine/ops/op_factory.h"

#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "engine/frontend/lower.h"
#include "engine/ops/source_ops.h"

namespace kiln::engine {
namespace {

// An op that is never run: these tests only build vertices.
class InertOp final : public solver::Op {
 public:
  absl::StatusOr<base::Digest> CacheKey(solver::ExecContext&,
                                        const std::vector<solver::InputRef>&) const override {
    return absl::InternalError("inert");
  }
  absl::StatusOr<solver::ResultRef> Exec(solver::ExecContext&,
                                         const std::vector<solver::InputRef>&) const override {
    return absl::InternalError("inert");
  }
};

OpFactory::Constructor Inert() {
  return [](const graph::Op&, const OpSite&) -> absl::StatusOr<OpRef> {
    return std::make_shared<InertOp>();
  };
}

LoweredBuild Lower(std::string_view dockerfile) {
  AnyImageResolver resolver;
  LowerOptions lo;
  lo.resolver = &resolver;
  auto lowered = LowerDockerfileText(dockerfile, lo);
  EXPECT_TRUE(lowered.ok()) << lowered.status();
  return lowered.ok() ? std::move(*lowered) : LoweredBuild{};
}

constexpr char kDockerfile[] =
    "FROM busybox AS a\n"
    "RUN echo a > /a\n"
    "FROM scratch AS b\n"
    "COPY --from=a /a /a\n"
    "FROM scratch\n"
    "COPY --from=a /a /x\n"
    "COPY --from=b /a /y\n"
    "COPY <<EOF /greeting\nhello\nEOF\n"
    "COPY <<EOT /farewell\nbye\nEOT\n";

TEST(OpFactoryTest, VerticesCarryTheGraphsDigestsAndShareOneScratch) {
  LoweredBuild lowered = Lower(kDockerfile);
  OpFactory f;
  for (OpKind k :
       {OpKind::kImage, OpKind::kScratch, OpKind::kLocal, OpKind::kExec, OpKind::kFile}) {
    f.Register(k, Inert());
  }
  auto vertices = f.MakeVertices(lowered.graph, "Dockerfile");
  ASSERT_TRUE(vertices.ok()) << vertices.status();
  ASSERT_EQ(vertices->size(), lowered.graph.size());
  solver::VertexRef scratch;
  int baseless = 0;
  for (size_t i = 0; i < vertices->size(); ++i) {
    const graph::Vertex& gv = lowered.graph.vertex(i);
    const solver::Vertex& sv = *(*vertices)[i];
    EXPECT_EQ(sv.digest(), gv.digest) << "vertex " << i << " has a second digest";
    const auto* file = std::get_if<graph::FileOp>(&gv.op);
    size_t extra = file != nullptr && !file->has_base ? 1 : 0;
    ASSERT_EQ(sv.inputs().size(), gv.inputs.size() + extra);
    for (size_t j = 0; j < gv.inputs.size(); ++j) {
      EXPECT_EQ(sv.inputs()[j + extra], (*vertices)[gv.inputs[j]]);
    }
    if (extra == 0) continue;
    ++baseless;
    if (scratch == nullptr) scratch = sv.inputs()[0];
    EXPECT_EQ(sv.inputs()[0], scratch) << "every base-less file op shares one scratch";
    EXPECT_EQ(sv.inputs()[0]->name(), "scratch");
  }
  EXPECT_GE(baseless, 2);
}

TEST(OpFactoryTest, AnUnregisteredKindFailsNamingTheLine) {
  LoweredBuild lowered = Lower(kDockerfile);
  OpFactory f;
  for (OpKind k : {OpKind::kImage, OpKind::kScratch, OpKind::kLocal, OpKind::kFile}) {
    f.Register(k, Inert());
  }
  auto vertices = f.MakeVertices(lowered.graph, "Dockerfile");
  ASSERT_FALSE(vertices.ok());
  EXPECT_EQ(vertices.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(vertices.status().message(),
            "Dockerfile:2: a step of kind 'exec' is not supported yet");
}

TEST(OpFactoryTest, TypedConstructorsSeeTheGraphOp) {
  LoweredBuild lowered = Lower("FROM busybox\nRUN echo hi\n");
  OpFactory f;
  f.Register(OpKind::kImage, Inert());
  std::vector<std::string> seen;
  f.Register<graph::ExecOp>(
      OpKind::kExec, [&seen](const graph::ExecOp& e, const OpSite& site) -> absl::StatusOr<OpRef> {
        seen.push_back(e.args.back() + " at " + site.Where());
        return std::make_shared<InertOp>();
      });
  ASSERT_TRUE(f.MakeVertices(lowered.graph, "Dockerfile.dev").ok());
  EXPECT_EQ(seen, (std::vector<std::string>{"echo hi at Dockerfile.dev:2"}));
}

}  // namespace
}  // namespace kiln::engine
