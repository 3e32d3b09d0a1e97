#include "engine/graph/graph.h"

#include "gtest/gtest.h"

namespace kiln::engine::graph {
namespace {

const char kGoldenImageDigest[] =
    "sha256:a61498673efe15c84260bc2c3d79c237e386e3c7032b016b6fd5e088c16555eb";

SourceOp Image(const std::string& ref) {
  SourceOp s;
  s.kind = SourceOp::Kind::kImage;
  s.ref = ref;
  s.manifest_digest = base::Digest::Of("m:" + ref);
  s.platform = "linux/amd64";
  return s;
}

ExecOp Exec(const std::string& cmd) {
  ExecOp e;
  e.args = {"/bin/sh", "-c", cmd};
  e.env = {"PATH=/bin"};
  return e;
}

TEST(OpTest, SerializationIsCanonicalAndGolden) {
  ExecOp e = Exec("echo hi");
  ExecMount m;
  m.type = ExecMount::Type::kCache;
  m.target = "/c";
  m.cache_id = "/c";
  m.sharing = "shared";
  m.mode = 0700;
  e.mounts.push_back(m);
  const std::string s = SerializeOp(e);
  const std::string head =
      "version 10:kiln.op.v1\nop 4:exec\nargs.n 1:3\nargs 7:/bin/sh\nargs 2:-c\nargs 7:echo hi\n"
      "env.n 1:1\nenv 9:PATH=/bin\ncwd 1:/\n";
  EXPECT_EQ(s.substr(0, head.size()), head);
  EXPECT_NE(s.find("mode 3:448\n"), std::string::npos);
  EXPECT_EQ(s, SerializeOp(Op(e)));  // deterministic
  // Golden digest: changing the recipe must show up here.
  EXPECT_EQ(VertexDigest(Image("busybox"), {}).str(), kGoldenImageDigest);
}

TEST(OpTest, FieldsChangeTheDigestButMetaDoesNot) {
  ExecOp a = Exec("x");
  ExecOp b = a;
  b.proxy_env = {"HTTP_PROXY=http://p"};
  EXPECT_EQ(VertexDigest(a, {}), VertexDigest(b, {}));
  ExecOp c = a;
  c.cwd = "/tmp";
  EXPECT_NE(VertexDigest(a, {}), VertexDigest(c, {}));
  ExecOp d = a;
  d.env = {"PATH=/bin", "A=1"};
  EXPECT_NE(VertexDigest(a, {}), VertexDigest(d, {}));
  // Length-prefixing keeps field boundaries unambiguous.
  ExecOp e1 = a, e2 = a;
  e1.args = {"ab", "c"};
  e2.args = {"a", "bc"};
  EXPECT_NE(VertexDigest(e1, {}), VertexDigest(e2, {}));
  FileOp f1, f2;
  FileAction act;
  act.kind = FileAction::Kind::kMkdir;
  act.path = "/x";
  f1.actions = {act};
  act.chown = Chown{"1", "2"};
  f2.actions = {act};
  EXPECT_NE(VertexDigest(f1, {}), VertexDigest(f2, {}));
  // Inputs are part of the digest, in order.
  base::Digest i1 = base::Digest::Of("1"), i2 = base::Digest::Of("2");
  EXPECT_NE(VertexDigest(f1, {i1, i2}), VertexDigest(f1, {i2, i1}));
}

TEST(GraphTest, AddMergesEqualVertices) {
  Graph g;
  VertexMeta m1{.stage = "a", .instruction = "FROM busybox"};
  VertexMeta m2{.stage = "b", .instruction = "FROM busybox AS b"};
  absl::StatusOr<VertexId> s1 = g.Add(Image("busybox"), {}, m1);
  absl::StatusOr<VertexId> s2 = g.Add(Image("busybox"), {}, m2);
  ASSERT_TRUE(s1.ok() && s2.ok());
  EXPECT_EQ(*s1, *s2);
  EXPECT_EQ(g.vertex(*s1).merged, 1);
  EXPECT_EQ(g.vertex(*s1).meta.stage, "a");
  absl::StatusOr<VertexId> r1 = g.Add(Exec("make"), {*s1}, {});
  absl::StatusOr<VertexId> r2 = g.Add(Exec("make"), {*s2}, {});
  ASSERT_TRUE(r1.ok() && r2.ok());
  EXPECT_EQ(*r1, *r2);
  EXPECT_EQ(g.size(), 2u);
  EXPECT_EQ(*g.Find(g.vertex(*r1).digest), *r1);
  EXPECT_EQ(g.Find(base::Digest::Of("nope")).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(g.Add(Exec("bad"), {7}, {}).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(GraphTest, PruneKeepsOnlyWhatRootsNeedInTopologicalOrder) {
  Graph g;
  VertexId a = *g.Add(Image("a"), {}, {});
  VertexId b = *g.Add(Image("b"), {}, {});
  VertexId ra = *g.Add(Exec("on a"), {a}, {});
  VertexId rb = *g.Add(Exec("on b"), {b}, {});
  (void)rb;
  std::vector<VertexId> roots = {ra};
  Graph p = g.Prune(&roots);
  ASSERT_EQ(p.size(), 2u);
  EXPECT_EQ(p.vertex(roots[0]).digest, g.vertex(ra).digest);
  EXPECT_EQ(p.vertex(p.vertex(roots[0]).inputs[0]).digest, g.vertex(a).digest);
  for (VertexId v = 0; v < p.size(); ++v) {
    for (VertexId in : p.vertex(v).inputs) EXPECT_LT(in, v);
  }
}

TEST(GraphTest, RenderTextAndDot) {
  Graph g;
  VertexId a = *g.Add(Image("a"), {}, {.stage = "s", .instruction = "FROM a", .step = "[s 1/2]"});
  VertexId r = *g.Add(Exec("echo \"q\""), {a},
                      {.stage = "s", .instruction = "RUN echo \"q\"", .step = "[s 2/2]"});
  std::string text = RenderText(g);
  std::string da = g.vertex(a).digest.short_hex(), dr = g.vertex(r).digest.short_hex();
  EXPECT_EQ(text, da + " source [-] [s 1/2] FROM a\n" + dr + " exec [" + da +
                      "] [s 2/2] RUN echo \"q\"\n");
  std::string dot = RenderDot(g);
  EXPECT_EQ(dot.rfind("digraph kiln {\n", 0), 0u);
  EXPECT_NE(dot.find("\"" + da + "\" -> \"" + dr + "\";"), std::string::npos);
  EXPECT_NE(dot.find("RUN echo \\\"q\\\""), std::string::npos);
  EXPECT_EQ(dot.substr(dot.size() - 2), "}\n");
}

}  // namespace
}  // namespace kiln::engine::graph
