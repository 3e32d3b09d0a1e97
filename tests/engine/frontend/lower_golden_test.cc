// Golden lowering of a Dockerfile that uses every op shape the frontend makes (image, scratch,
// context, http and git sources; exec with every mount type, heredocs, proxies; copy, mkdir
// and mkfile actions with chown/chmod/excludes/parents). The recorded digests pin the canonical
// serialization: any change to the bytes an op hashes to shows up here, so speed work on the
// frontend or the graph cannot silently change a digest.
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/digest.h"
#include "engine/frontend/lower.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/engine/frontend/fake_image_resolver.h"

namespace kiln::engine {
namespace {

constexpr char kRich[] = R"(# syntax=docker/dockerfile:1
ARG BASE=golang:1.19
ARG TAG
FROM ${BASE} AS builder
ARG V=1 W
ENV A=$V B="${V:-x} y" PATH=/usr/local/go/bin:/usr/bin:/bin
WORKDIR /src/$V
USER 1000:1000
COPY --chown=app:app --chmod=0640 --exclude=*.md a.go b/ ./
COPY --chmod=u+x tools/ /tools/
RUN --mount=type=cache,target=/root/.cache,id=gocache,sharing=locked,mode=0700,uid=1000 \
    --mount=type=bind,source=go.sum,target=/g \
    --mount=type=tmpfs,target=/tmp,size=64m \
    --mount=type=secret,id=tok,required=true,env=TOKEN \
    --mount=type=ssh \
    --network=none go build ./...
RUN ["/bin/echo", "exec form", "$A"]
RUN <<EOF
#!/bin/sh
echo script $A
EOF
RUN <<-EOT bash
	echo inline
	EOT
COPY <<EOF /etc/conf
value=$A
EOF
ADD --checksum=sha256:0000000000000000000000000000000000000000000000000000000000000000 https://example.com/x/file.tgz /dl/
ADD --keep-git-dir=true https://github.com/example/repo.git#main /repo
ADD archive.tar /opt/
WORKDIR rel
FROM scratch AS out
COPY --from=builder --parents /src/1/a.go /tools /
COPY --from=busybox:1.35 /bin/busybox /bin/
COPY x.txt /x/
SHELL ["/bin/bash", "-c"]
ENTRYPOINT exec app
CMD ["--flag", "v\u00e9"]
HEALTHCHECK --interval=5s CMD true
LABEL k=v other="two words"
EXPOSE 80 443/udp
VOLUME /data
STOPSIGNAL SIGINT
)";

// Recorded before the frontend speed work (commit 085e849); must never change by accident.
constexpr char kRichGolden[] =
    "7db9ce413d9b source [-] [builder 1/16] FROM ${BASE} AS builder\n"
    "5109a838b3df file [7db9ce413d9b] [builder 4/16] WORKDIR /src/$V\n"
    "d1fce0b6c546 source [-] [context] a.go b\n"
    "4a3ec221c7d3 file [5109a838b3df,d1fce0b6c546] [builder 6/16] COPY --chown=app:app --chmod=0640 --exclude=*.md a.go b/ ./\n"
    "28ec4e59acbc source [-] [context] tools\n"
    "c51e604ff66c file [4a3ec221c7d3,28ec4e59acbc] [builder 7/16] COPY --chmod=u+x tools/ /tools/\n"
    "15c04342edb0 source [-] [context] go.sum\n"
    "7659c377648f exec [c51e604ff66c,15c04342edb0] [builder 8/16] RUN --mount=type=cache,target=/root/.cache,id=gocache,sharing=locked,mode=0700,uid=1000     --mount=type=bind,source=go.sum,target=/g     --mount=type=tmpfs,target=/tmp,size=64m     --mount=type=secret,id=tok,required=true,env=TOKEN     --mount=type=ssh     --network=none go build ./...\n"
    "ac7238f96bd0 exec [7659c377648f] [builder 9/16] RUN [\"/bin/echo\", \"exec form\", \"$A\"]\n"
    "aaf3c3160f43 file [-] preparing inline document\n"
    "1efa1f56d349 exec [ac7238f96bd0,aaf3c3160f43] [builder 10/16] RUN <<EOF\n"
    "1a86405387e3 exec [1efa1f56d349] [builder 11/16] RUN <<-EOT bash\n"
    "93ce12efb895 file [-] preparing inline document\n"
    "d85d0017ff04 file [1a86405387e3,93ce12efb895] [builder 12/16] COPY <<EOF /etc/conf\n"
    "10e7cf7f2ca5 source [-] fetch https://example.com/x/file.tgz\n"
    "1b1a40895b4b file [d85d0017ff04,10e7cf7f2ca5] [builder 13/16] ADD --checksum=sha256:0000000000000000000000000000000000000000000000000000000000000000 https://example.com/x/file.tgz /dl/\n"
    "16174daaa739 source [-] fetch https://github.com/example/repo.git#main\n"
    "0746292ef646 file [1b1a40895b4b,16174daaa739] [builder 14/16] ADD --keep-git-dir=true https://github.com/example/repo.git#main /repo\n"
    "89fb7a0512bd source [-] [context] archive.tar\n"
    "f8cef2a01d69 file [0746292ef646,89fb7a0512bd] [builder 15/16] ADD archive.tar /opt/\n"
    "d40274954453 file [f8cef2a01d69] [builder 16/16] WORKDIR rel\n"
    "70886e786367 source [-] [out 1/12] FROM scratch AS out\n"
    "4cf2f2c54cc7 file [70886e786367,d40274954453] [out 2/12] COPY --from=builder --parents /src/1/a.go /tools /\n"
    "e93647f50944 source [-] FROM docker.io/library/busybox:1.35\n"
    "115c13836c1a file [4cf2f2c54cc7,e93647f50944] [out 3/12] COPY --from=busybox:1.35 /bin/busybox /bin/\n"
    "4e244bec3b37 source [-] [context] x.txt\n"
    "90dcb120abb4 file [115c13836c1a,4e244bec3b37] [out 4/12] COPY x.txt /x/\n";
constexpr char kRichFinal[] =
    "sha256:90dcb120abb4b7a03504ab61956ff8e9291035d84c4285eaddf13d681d1521f5";
constexpr char kRichHistory[] =
    "layer  COPY /src/1/a.go /tools / # buildkit\n"
    "layer  COPY /bin/busybox /bin/ # buildkit\n"
    "layer  COPY x.txt /x/ # buildkit\n"
    "config SHELL [\"/bin/bash\", \"-c\"]\n"
    "config ENTRYPOINT [\"/bin/bash\",\"-c\",\"exec app\"]\n"
    "config CMD [\"--flag\",\"v\xc3\xa9\"]\n"
    "config HEALTHCHECK --interval=5s CMD true\n"
    "config LABEL k=v other=two words\n"
    "config EXPOSE 80 443/udp\n"
    "config VOLUME /data\n"
    "config STOPSIGNAL SIGINT\n";
constexpr char kBuilderHistory[] =
    "config ARG V=1 W\n"
    "config ENV A=1 B=1 y PATH=/usr/local/go/bin:/usr/bin:/bin\n"
    "layer  WORKDIR /src/1\n"
    "config USER 1000:1000\n"
    "layer  COPY a.go b/ ./ # buildkit\n"
    "layer  COPY tools/ /tools/ # buildkit\n"
    "layer  RUN /bin/sh -c go build ./... # buildkit\n"
    "layer  RUN /bin/echo exec form $A # buildkit\n"
    "layer  RUN /bin/sh -c /dev/pipes/EOF # buildkit\n"
    "layer  RUN /bin/sh -c echo inline\n"
    " # buildkit\n"
    "layer  COPY <<EOF /etc/conf # buildkit\n"
    "layer  ADD https://example.com/x/file.tgz /dl/ # buildkit\n"
    "layer  ADD https://github.com/example/repo.git#main /repo # buildkit\n"
    "layer  ADD archive.tar /opt/ # buildkit\n"
    "layer  WORKDIR /src/1/rel\n";
constexpr char kBuilderConfig[] =
    "{\"Env\":[\"PATH=/usr/local/go/bin:/usr/bin:/bin\",\"GOPATH=/go\",\"A=1\",\"B=1 y\"],\"User\":\"1000:1000\",\"WorkingDir\":\"/src/1/rel\"}";

std::string History(const LoweredBuild& b) {
  std::string out;
  for (const HistoryEntry& h : b.history) {
    absl::StrAppend(&out, h.empty_layer ? "config " : "layer  ", h.created_by, "\n");
  }
  return out;
}

TEST(LowerGoldenTest, RichDockerfileDigestsAreStable) {
  LowerOptions opt;
  opt.build_args = {{"HTTP_PROXY", "http://proxy:3128"}};
  opt.context_excludes = {"*.tmp", "!keep.tmp"};
  absl::StatusOr<LoweredBuild> b = Lower(kRich, opt);
  ASSERT_TRUE(b.ok()) << b.status();
  const std::string text = graph::RenderText(b->graph);
  EXPECT_EQ(text, kRichGolden) << text;
  EXPECT_EQ(b->graph.vertex(b->final_vertex).digest.str(), kRichFinal);
  EXPECT_EQ(History(*b), kRichHistory) << History(*b);
  // Same input, same graph: lowering twice gives identical digests.
  absl::StatusOr<LoweredBuild> again = Lower(kRich, opt);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(graph::RenderText(again->graph), text);
}

TEST(LowerGoldenTest, RichDockerfileBuilderHistoryAndConfigAreStable) {
  LowerOptions opt;
  opt.target = "builder";
  absl::StatusOr<LoweredBuild> b = Lower(kRich, opt);
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(History(*b), kBuilderHistory) << History(*b);
  const std::string config = oci::ImageConfigToJson(b->config).dump();
  EXPECT_EQ(config, kBuilderConfig) << config;
}

// The context's identity (engine::ContextIdentity) is part of the local source's digest and so
// of every step reading it: two builds from different directories never share those vertices
// in the solver. Without one (tools lowering with no context), the digests are the goldens'.
TEST(LowerGoldenTest, ContextIdentitySeparatesOnlyWhatReadsTheContext) {
  constexpr char kDf[] = "FROM busybox:1.35\nRUN true\nCOPY a.txt /\n";
  auto lower = [&](const std::string& id) {
    LowerOptions opt;
    opt.context_id = id;
    absl::StatusOr<LoweredBuild> b = Lower(kDf, opt);
    EXPECT_TRUE(b.ok()) << b.status();
    std::vector<std::string> digests;
    if (b.ok()) {
      for (const graph::Vertex& v : b->graph.vertices()) digests.push_back(v.digest.str());
    }
    return digests;
  };
  const std::vector<std::string> none = lower(""), a = lower("1:2:/ctx/a"),
                                 a2 = lower("1:2:/ctx/a"), b = lower("1:3:/ctx/b");
  ASSERT_EQ(none.size(), 4u);  // image, RUN, context, COPY
  ASSERT_EQ(a.size(), 4u);
  ASSERT_EQ(b.size(), 4u);
  EXPECT_EQ(a, a2);
  for (size_t i : {0, 1}) {  // the base image and the RUN do not read the context
    EXPECT_EQ(a[i], none[i]);
    EXPECT_EQ(a[i], b[i]);
  }
  for (size_t i : {2, 3}) {
    EXPECT_NE(a[i], none[i]);
    EXPECT_NE(a[i], b[i]);
  }
}

}  // namespace
}  // namespace kiln::engine
