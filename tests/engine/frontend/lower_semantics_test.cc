// Lowering semantics: variables and scoping, stages, config accumulation, ops, errors.
#include <algorithm>

#include "engine/frontend/lower.h"
#include "gtest/gtest.h"
#include "tests/engine/frontend/fake_image_resolver.h"

namespace kiln::engine {
namespace {

using graph::ExecMount;
using graph::ExecOp;
using graph::FileAction;
using graph::FileOp;
using graph::SourceOp;
using graph::Vertex;

const Vertex& Final(const LoweredBuild& b) { return b.graph.vertex(b.final_vertex); }

const ExecOp& LastExec(const LoweredBuild& b) {
  for (auto it = b.graph.vertices().rbegin(); it != b.graph.vertices().rend(); ++it) {
    if (const auto* e = std::get_if<ExecOp>(&it->op)) return *e;
  }
  static const ExecOp kNone;
  ADD_FAILURE() << "no exec op";
  return kNone;
}

bool HasEnv(const ExecOp& e, const std::string& kv) {
  return std::find(e.env.begin(), e.env.end(), kv) != e.env.end();
}

std::string ErrorOf(std::string_view df, LowerOptions opt = {}) {
  absl::StatusOr<LoweredBuild> b = Lower(df, opt);
  return b.ok() ? "OK" : std::string(b.status().message());
}

TEST(LowerArgsTest, GlobalArgInFromAndRedeclaredInStage) {
  LowerOptions opt;
  absl::StatusOr<LoweredBuild> b = Lower(
      "ARG TAG=1.35\nARG IMG=busybox\nFROM ${IMG}:$TAG\nARG TAG\nRUN echo $TAG\n"
      "LABEL tag=$TAG img=${IMG:-none}\n",
      opt);
  ASSERT_TRUE(b.ok()) << b.status();
  const auto& src = std::get<SourceOp>(b->graph.vertex(0).op);
  EXPECT_EQ(src.ref, "docker.io/library/busybox:1.35");
  EXPECT_TRUE(HasEnv(LastExec(*b), "TAG=1.35"));
  EXPECT_EQ(LastExec(*b).args, (std::vector<std::string>{"/bin/sh", "-c", "echo $TAG"}));
  EXPECT_EQ(b->config.labels.at("tag"), "1.35");
  EXPECT_EQ(b->config.labels.at("img"), "none");  // global ARG not redeclared: not visible
  EXPECT_FALSE(oci::EnvLookup(b->config.env, "TAG").has_value());  // ARG is not image ENV
}

TEST(LowerArgsTest, BuildArgOverridesAndEnvWins) {
  LowerOptions opt;
  opt.build_args = {{"V", "fromcli"}, {"UNUSED", "x"}};
  absl::StatusOr<LoweredBuild> b = Lower(
      "FROM busybox:1.35\nARG V=default\nLABEL a=$V\nENV V=env\nARG V=again\nLABEL b=$V\nRUN x\n",
      opt);
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(b->config.labels.at("a"), "fromcli");
  EXPECT_EQ(b->config.labels.at("b"), "env");
  EXPECT_TRUE(HasEnv(LastExec(*b), "V=env"));
  EXPECT_FALSE(HasEnv(LastExec(*b), "V=fromcli"));
  ASSERT_EQ(b->warnings.size(), 1u);
  EXPECT_EQ(b->warnings[0], "build arg UNUSED was not consumed by any stage");
}

TEST(LowerArgsTest, ArgsAreScopedPerStage) {
  absl::StatusOr<LoweredBuild> b = Lower(
      "FROM busybox:1.35 AS a\nARG X=1\nENV Y=2\nFROM a\nLABEL x=${X:-unset} y=$Y\n");
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(b->config.labels.at("x"), "unset");
  EXPECT_EQ(b->config.labels.at("y"), "2");  // ENV is inherited through FROM a
}

TEST(LowerArgsTest, PlatformArgs) {
  LowerOptions opt;
  opt.target_platform = "linux/arm64/v8";
  absl::StatusOr<LoweredBuild> b = Lower(
      "FROM --platform=$BUILDPLATFORM busybox:1.35\nLABEL before=${TARGETARCH:-none}\n"
      "ARG TARGETARCH\nARG TARGETVARIANT\nLABEL arch=$TARGETARCH v=$TARGETVARIANT\n",
      opt);
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(b->config.labels.at("before"), "none");
  EXPECT_EQ(b->config.labels.at("arch"), "arm64");
  EXPECT_EQ(b->config.labels.at("v"), "v8");
  EXPECT_EQ(b->platform, "linux/amd64");  // --platform=$BUILDPLATFORM
}

TEST(LowerArgsTest, ProxyArgsReachRunButNotTheDigest) {
  LowerOptions a, c;
  a.build_args = {{"HTTP_PROXY", "http://p:3128"}};
  absl::StatusOr<LoweredBuild> with = Lower("FROM busybox:1.35\nRUN wget x\n", a);
  absl::StatusOr<LoweredBuild> without = Lower("FROM busybox:1.35\nRUN wget x\n", c);
  ASSERT_TRUE(with.ok() && without.ok());
  EXPECT_EQ(LastExec(*with).proxy_env, (std::vector<std::string>{"HTTP_PROXY=http://p:3128"}));
  EXPECT_EQ(Final(*with).digest, Final(*without).digest);
  EXPECT_TRUE(with->warnings.empty());
}

TEST(LowerStagesTest, FromResolvesByNameCaseInsensitiveIndexOrImage) {
  absl::StatusOr<LoweredBuild> b = Lower(
      "FROM busybox:1.35 AS Base\nRUN touch /a\nFROM scratch\nCOPY --from=BASE /a /a\n"
      "COPY --from=0 /a /b\nCOPY --from=golang:1.19 /go /go\n");
  ASSERT_TRUE(b.ok()) << b.status();
  const Vertex& last = Final(*b);
  const Vertex& img = b->graph.vertex(last.inputs[1]);
  EXPECT_EQ(std::get<SourceOp>(img.op).ref, "docker.io/library/golang:1.19");
}

// All RUN commands of the lowered graph, in graph order.
std::string Runs(const LoweredBuild& b) {
  std::string out;
  for (const Vertex& v : b.graph.vertices()) {
    if (const auto* e = std::get_if<ExecOp>(&v.op)) out += e->args.back() + ";";
  }
  return out;
}

// dockerfile2llb's rules: FROM takes the latest stage of the name defined before it; --from,
// RUN --mount from= and --target take the last one in the file.
TEST(LowerStagesTest, DuplicateStageNamesResolveLikeBuildKit) {
  const std::string df =
      "FROM busybox:1.35 AS final\nRUN echo one\n"
      "FROM final AS child\nRUN echo child\n"
      "FROM busybox:1.35 AS final\nRUN echo two\n"
      "FROM busybox:1.35 AS out\nCOPY --from=final /a /a\n"
      "RUN --mount=from=final,target=/m echo mount\n";
  absl::StatusOr<LoweredBuild> child = Lower(df, LowerOptions{.target = "child"});
  ASSERT_TRUE(child.ok()) << child.status();
  EXPECT_EQ(Runs(*child), "echo one;echo child;");
  ASSERT_EQ(child->checks.size(), 1u);
  EXPECT_EQ(child->checks[0].Short(),
            "DuplicateStageName: Duplicate stage name \"final\", stage names should be unique "
            "(Dockerfile:5)");
  absl::StatusOr<LoweredBuild> target = Lower(df, LowerOptions{.target = "final"});
  ASSERT_TRUE(target.ok()) << target.status();
  EXPECT_EQ(Runs(*target), "echo two;");
  EXPECT_EQ(target->target_stage, "final");
  absl::StatusOr<LoweredBuild> out = Lower(df);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(Runs(*out), "echo two;echo mount;");
}

TEST(LowerConfigTest, MaintainerIsTheAuthorAndAChildStageInheritsIt) {
  absl::StatusOr<LoweredBuild> b =
      Lower("FROM busybox:1.35 AS a\nMAINTAINER Jane <j@x>\nFROM a\nRUN true\n");
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(b->author, "Jane <j@x>");
  EXPECT_TRUE(b->config.labels.empty());
  absl::StatusOr<LoweredBuild> none = Lower("FROM busybox:1.35\nRUN true\n");
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_FALSE(none->author.has_value());  // the base image's author is kept
}

TEST(LowerStagesTest, Errors) {
  // --from may name a later stage (BuildKit), but not its own stage nor a cycle.
  EXPECT_EQ(ErrorOf("FROM busybox:1.35 AS a\nCOPY --from=b /x /x\nFROM busybox:1.35 AS b\n",
                    LowerOptions{.target = "a"}),
            "OK");
  EXPECT_EQ(ErrorOf("FROM busybox:1.35 AS a\nCOPY --from=a /x /x\n"),
            "Dockerfile:2: stage 'a' refers to itself: expected another stage or an image");
  EXPECT_EQ(ErrorOf("FROM busybox:1.35 AS a\nCOPY --from=b /x /x\nFROM busybox:1.35 AS b\n"
                    "COPY --from=a /y /y\n",
                    LowerOptions{.target = "b"}),
            "Dockerfile:1: circular dependency on stage 'a'");
  EXPECT_EQ(ErrorOf("FROM busybox:1.35\nCOPY --from=1 /x /x\n"),
            "Dockerfile:2: stage index 1 is not before the current stage (0): expected an "
            "earlier stage's index");
  EXPECT_EQ(ErrorOf("FROM busybox:1.35 AS a\n", LowerOptions{.target = "nope"}),
            "Dockerfile: target stage 'nope' could not be found: expected one of a");
  EXPECT_EQ(ErrorOf("FROM b AS a\nFROM a AS b\n"),
            "Dockerfile:1: stage 'b' is referenced from stage a before it is defined (line 2): "
            "expected a stage defined earlier");
  EXPECT_EQ(ErrorOf("FROM nosuch:image\n"),
            "Dockerfile:1: resolve image 'nosuch:image': not in the store");
  EXPECT_EQ(ErrorOf("FROM busybox:1.35\nCOPY a b c\n"),
            "Dockerfile:2: When using COPY with more than one source file, the destination "
            "must be a directory and end with a /");
  EXPECT_EQ(ErrorOf("FROM busybox:1.35\nRUN --mount=type=bind,bogus=1 x\n"),
            "Dockerfile:2: RUN --mount=type=bind,bogus=1: unexpected key 'bogus' in mount: "
            "expected type, target, source, from, readonly, id, sharing, mode, uid, gid, size, "
            "required or env");
  EXPECT_EQ(ErrorOf("FROM busybox:1.35\nEXPOSE 99999\n"),
            "Dockerfile:2: invalid port in EXPOSE 99999: expected <port>[-<port>][/<proto>]");
  EXPECT_EQ(ErrorOf("FROM busybox:1.35\nENV A=${B:?needs_B}\n"),
            "Dockerfile:2: failed to expand '${B:?needs_B}': B: needs_B");
}

TEST(LowerStagesTest, UnreachedStagesAreNeverResolved) {
  FakeImageResolver r;
  LowerOptions opt;
  opt.resolver = &r;
  absl::StatusOr<LoweredBuild> b =
      Lower("FROM does-not-exist AS unused\nRUN exit 1\nFROM busybox:1.35\nRUN true\n", opt);
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(r.calls, 1);
  EXPECT_EQ(b->graph.size(), 2u);
}

TEST(LowerGraphTest, EqualSubgraphsMergeAcrossStagesAndFiles) {
  absl::StatusOr<LoweredBuild> one = Lower("FROM busybox:1.35 AS x\nRUN make\nRUN test\n");
  absl::StatusOr<LoweredBuild> two = Lower(
      "# different file, names and lines\nFROM busybox:1.35 AS other\n\nRUN make\nRUN test\n");
  ASSERT_TRUE(one.ok() && two.ok());
  EXPECT_EQ(Final(*one).digest, Final(*two).digest);
  EXPECT_NE(Final(*one).meta.stage, Final(*two).meta.stage);
  absl::StatusOr<LoweredBuild> same = Lower(
      "FROM busybox:1.35 AS a\nRUN make\nFROM busybox:1.35 AS b\nRUN make\nFROM scratch\n"
      "COPY --from=a / /a\nCOPY --from=b / /b\n");
  ASSERT_TRUE(same.ok());
  EXPECT_EQ(same->graph.size(), 5u);  // busybox, RUN make (merged), scratch, 2 copies
  const Vertex& last = Final(*same);
  EXPECT_EQ(last.inputs[1], same->graph.vertex(last.inputs[0]).inputs[1]);
  absl::StatusOr<LoweredBuild> diff = Lower("FROM busybox:1.35 AS x\nRUN make\nRUN test2\n");
  ASSERT_TRUE(diff.ok());
  EXPECT_NE(Final(*one).digest, Final(*diff).digest);
}

TEST(LowerConfigTest, EntrypointCmdInterplay) {
  absl::StatusOr<LoweredBuild> a = Lower("FROM busybox:1.35\nENTRYPOINT [\"/e\"]\n");
  ASSERT_TRUE(a.ok());
  EXPECT_FALSE(a->config.cmd.has_value());  // inherited CMD ["sh"] reset
  absl::StatusOr<LoweredBuild> b = Lower("FROM busybox:1.35\nCMD [\"c\"]\nENTRYPOINT e x\n");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->config.cmd, (std::vector<std::string>{"c"}));
  EXPECT_EQ(b->config.entrypoint, (std::vector<std::string>{"/bin/sh", "-c", "e x"}));
  absl::StatusOr<LoweredBuild> c = Lower("FROM busybox:1.35\nRUN x\n");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->config.cmd, (std::vector<std::string>{"sh"}));  // inherited
}

TEST(LowerConfigTest, AccumulatesEverything) {
  absl::StatusOr<LoweredBuild> b = Lower(
      "FROM busybox:1.35\nWORKDIR /a\nWORKDIR b/../c\nENV K=v P=$K-x\nUSER 1000:1000\n"
      "EXPOSE 80 53/UDP 8000-8001\nLABEL x=1 \"y z\"=2\nMAINTAINER me\nVOLUME /v1 [\"/v0\"]\n"
      "VOLUME [\"/v0\"]\nSTOPSIGNAL SIGINT\nHEALTHCHECK --interval=5s --retries=2 CMD check\n"
      "SHELL [\"/bin/bash\", \"-eu\", \"-c\"]\nONBUILD RUN echo child\nRUN echo hi\n");
  ASSERT_TRUE(b.ok()) << b.status();
  const oci::ImageConfig& c = b->config;
  EXPECT_EQ(c.working_dir, "/a/c");
  EXPECT_EQ(*oci::EnvLookup(c.env, "P"), "-x");  // same-line ENV sees the old K (Docker)
  EXPECT_EQ(c.user, "1000:1000");
  EXPECT_EQ(c.exposed_ports,
            (std::vector<std::string>{"53/udp", "80/tcp", "8000/tcp", "8001/tcp"}));
  EXPECT_EQ(c.labels.at("y z"), "2");
  EXPECT_EQ(c.labels.count("maintainer"), 0u);  // BuildKit sets the author, no label
  EXPECT_EQ(b->author, "me");
  EXPECT_EQ(c.volumes, (std::vector<std::string>{"/v0", "/v1", "[/v0]"}));
  EXPECT_EQ(c.stop_signal, "SIGINT");
  ASSERT_TRUE(c.healthcheck.has_value());
  EXPECT_EQ(c.healthcheck->test, (std::vector<std::string>{"CMD-SHELL", "check"}));
  EXPECT_EQ(c.healthcheck->interval_ns, 5'000'000'000);
  EXPECT_EQ(c.on_build, (std::vector<std::string>{"RUN echo child"}));
  const ExecOp& run = LastExec(*b);
  EXPECT_EQ(run.args, (std::vector<std::string>{"/bin/bash", "-eu", "-c", "echo hi"}));
  EXPECT_EQ(run.cwd, "/a/c");
  EXPECT_EQ(run.user, "1000:1000");
  EXPECT_TRUE(HasEnv(run, "K=v"));
  ASSERT_GE(b->history.size(), 3u);
  EXPECT_EQ(b->history.front().created_by, "WORKDIR /a");
  EXPECT_EQ(b->history.back().created_by, "RUN /bin/bash -eu -c echo hi # buildkit");
  EXPECT_FALSE(b->history.back().empty_layer);
  EXPECT_TRUE(b->history[3].empty_layer);  // USER
}

TEST(LowerConfigTest, BaseImageOnbuildTriggersRun) {
  FakeImageResolver r;
  oci::ImageConfig parent;
  parent.on_build = {"RUN echo triggered", "ENV FROM_TRIGGER=1"};
  r.Put("parent:1", parent);
  LowerOptions opt;
  opt.resolver = &r;
  absl::StatusOr<LoweredBuild> b = Lower("FROM parent:1\nRUN echo own\n", opt);
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_TRUE(b->config.on_build.empty());
  EXPECT_EQ(*oci::EnvLookup(b->config.env, "FROM_TRIGGER"), "1");
  ASSERT_EQ(b->graph.size(), 3u);
  EXPECT_EQ(b->graph.vertex(1).meta.instruction, "ONBUILD RUN echo triggered");
}

TEST(LowerOpsTest, RunHeredocs) {
  absl::StatusOr<LoweredBuild> simple = Lower("FROM busybox:1.35\nRUN <<EOF\necho a\necho b\nEOF\n");
  ASSERT_TRUE(simple.ok()) << simple.status();
  EXPECT_EQ(LastExec(*simple).args,
            (std::vector<std::string>{"/bin/sh", "-c", "echo a\necho b\n"}));
  absl::StatusOr<LoweredBuild> script =
      Lower("FROM busybox:1.35\nRUN <<EOF\n#!/usr/bin/env python3\nprint(1)\nEOF\n");
  ASSERT_TRUE(script.ok());
  const ExecOp& e = LastExec(*script);
  EXPECT_EQ(e.args, (std::vector<std::string>{"/bin/sh", "-c", "/dev/pipes/EOF"}));
  ASSERT_EQ(e.mounts.size(), 1u);
  EXPECT_EQ(e.mounts[0].target, "/dev/pipes/");
  const Vertex& doc = script->graph.vertex(Final(*script).inputs[e.mounts[0].input]);
  const auto& f = std::get<FileOp>(doc.op);
  EXPECT_EQ(f.actions[0].data, "#!/usr/bin/env python3\nprint(1)\n");
  EXPECT_EQ(*f.actions[0].mode, 0755u);
  absl::StatusOr<LoweredBuild> multi =
      Lower("FROM busybox:1.35\nRUN cat <<A <<B > /x\na\nA\nb\nB\n");
  ASSERT_TRUE(multi.ok());
  EXPECT_EQ(LastExec(*multi).args.back(), "cat <<A <<B > /x\na\nA\nb\nB");
}

TEST(LowerOpsTest, CopyHeredocExpandsUnlessQuoted) {
  absl::StatusOr<LoweredBuild> b = Lower(
      "FROM busybox:1.35\nARG N=world\nCOPY <<EOF <<'RAW' /etc/\nhello $N \"q\"\nEOF\n$N\nRAW\n");
  ASSERT_TRUE(b.ok()) << b.status();
  std::vector<std::string> data;
  for (const Vertex& v : b->graph.vertices()) {
    if (const auto* f = std::get_if<FileOp>(&v.op); f && !f->has_base) data.push_back(f->actions[0].data);
  }
  EXPECT_EQ(data, (std::vector<std::string>{"hello world \"q\"\n", "$N\n"}));
  const auto& copy = std::get<FileOp>(Final(*b).op);
  ASSERT_EQ(copy.actions.size(), 2u);
  EXPECT_EQ(copy.actions[0].path, "/etc/");
  EXPECT_EQ(copy.actions[0].src_paths, (std::vector<std::string>{"/EOF"}));
}

TEST(LowerOpsTest, CopyAndAddActions) {
  LowerOptions opt;
  opt.context_excludes = {"*.md"};
  absl::StatusOr<LoweredBuild> b = Lower(
      "FROM busybox:1.35\nWORKDIR /app\nCOPY --chown=1:2 --chmod=640 --exclude=*.tmp src/ ./dst/\n"
      "ADD --checksum=sha256:aa https://example.com/f.tgz?x=1 /dl/\nADD local.tar /x/\n"
      "COPY --chmod=u+x --parents a/*.sh /s/\n",
      opt);
  ASSERT_TRUE(b.ok()) << b.status();
  const graph::Graph& g = b->graph;
  const FileAction* copy = nullptr;
  const SourceOp* http = nullptr;
  const FileAction* add_local = nullptr;
  const FileAction* last = nullptr;
  for (const Vertex& v : g.vertices()) {
    if (const auto* s = std::get_if<SourceOp>(&v.op); s && s->kind == SourceOp::Kind::kHttp) http = s;
    if (const auto* s = std::get_if<SourceOp>(&v.op); s && s->kind == SourceOp::Kind::kLocal && copy == nullptr) {
      EXPECT_EQ(s->include_patterns, (std::vector<std::string>{"src"}));
      EXPECT_EQ(s->exclude_patterns, (std::vector<std::string>{"*.md"}));
    }
    const auto* f = std::get_if<FileOp>(&v.op);
    if (f == nullptr) continue;
    if (v.meta.instruction.rfind("COPY --chown", 0) == 0) copy = &f->actions[0];
    if (v.meta.instruction == "ADD local.tar /x/") add_local = &f->actions[0];
    if (v.meta.instruction.rfind("COPY --chmod=u+x", 0) == 0) last = &f->actions[0];
  }
  ASSERT_TRUE(copy && http && add_local && last);
  EXPECT_EQ(copy->path, "/app/dst/");
  EXPECT_EQ(copy->src_paths, (std::vector<std::string>{"/src"}));
  EXPECT_EQ(copy->chown->user, "1");
  EXPECT_EQ(copy->chown->group, "2");
  EXPECT_EQ(*copy->mode, 0640u);
  EXPECT_EQ(copy->excludes, (std::vector<std::string>{"*.tmp"}));
  EXPECT_FALSE(copy->auto_extract);
  EXPECT_EQ(http->checksum, "sha256:aa");
  EXPECT_EQ(http->filename, "f.tgz");
  EXPECT_TRUE(add_local->auto_extract);
  EXPECT_EQ(last->mode_string, "u+x");
  EXPECT_TRUE(last->parents);
  EXPECT_EQ(ErrorOf("FROM busybox:1.35\nADD --checksum=sha256:aa local /x\n"),
            "Dockerfile:2: ADD --checksum is only valid for URL sources: expected an http(s) or "
            "git URL");
}

TEST(LowerOpsTest, RunMounts) {
  absl::StatusOr<LoweredBuild> b = Lower(
      "FROM busybox:1.35 AS deps\nRUN touch /d\nFROM busybox:1.35\nARG CACHE=/root/.cache\n"
      "RUN --mount=type=cache,target=$CACHE,sharing=locked,mode=0700,uid=1 "
      "--mount=type=bind,from=deps,source=/d,target=/mnt/d "
      "--mount=type=secret,id=tok --mount=type=tmpfs,target=/t,size=1m --mount=type=ssh "
      "--mount=target=/ctx,rw --network=none make\n");
  ASSERT_TRUE(b.ok()) << b.status();
  const ExecOp& e = LastExec(*b);
  ASSERT_EQ(e.mounts.size(), 6u);
  EXPECT_EQ(e.network, "none");
  const ExecMount& cache = e.mounts[0];
  EXPECT_EQ(cache.type, ExecMount::Type::kCache);
  EXPECT_EQ(cache.target, "/root/.cache");
  EXPECT_EQ(cache.cache_id, "/root/.cache");
  EXPECT_EQ(cache.sharing, "locked");
  EXPECT_EQ(*cache.mode, 0700u);
  EXPECT_EQ(*cache.uid, 1u);
  EXPECT_FALSE(cache.readonly);
  const ExecMount& bind = e.mounts[1];
  EXPECT_TRUE(bind.readonly);
  EXPECT_EQ(bind.source, "/d");
  const Vertex& fin = Final(*b);
  EXPECT_EQ(b->graph.vertex(fin.inputs[bind.input]).meta.instruction, "RUN touch /d");
  EXPECT_EQ(e.mounts[2].target, "/run/secrets/tok");
  EXPECT_EQ(e.mounts[3].size_bytes, 1u << 20);
  EXPECT_EQ(e.mounts[4].id, "default");
  EXPECT_FALSE(e.mounts[5].readonly);
  EXPECT_EQ(std::get<SourceOp>(b->graph.vertex(fin.inputs[e.mounts[5].input]).op).kind,
            SourceOp::Kind::kLocal);
}

TEST(LowerOpsTest, ScratchHasDefaultPathAndRunEnv) {
  absl::StatusOr<LoweredBuild> b = Lower("FROM scratch\nCOPY x /x\nRUN [\"/x\"]\n");
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(b->config.env,
            (std::vector<std::string>{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}));
  EXPECT_EQ(LastExec(*b).args, (std::vector<std::string>{"/x"}));
  EXPECT_EQ(LastExec(*b).cwd, "/");
}

}  // namespace
}  // namespace kiln::engine
