// Parse + lower a generated multi-stage Dockerfile (20 instructions per stage, every stage
// reachable from the last through COPY --from), at 1x (1,000 instructions, 50 stages), 2x and
// 4x, to show the cost is linear in the Dockerfile's size.
#include <string>

#include "absl/strings/str_cat.h"
#include "benchmark/benchmark.h"
#include "engine/frontend/lower.h"

namespace kiln::engine {
namespace {

std::string Generate(int stages) {
  std::string df = "ARG BASE=busybox:1.35\n";
  for (int s = 0; s < stages; ++s) {
    absl::StrAppend(&df, "FROM ${BASE} AS s", s, "\n",  // 1
                    "ARG V", s, "=v", s, "\n",             // 2
                    "ENV A", s, "=$V", s, " PATH=/usr/bin:/bin\n",
                    "WORKDIR /work/", s, "\n",
                    "LABEL stage=", s, " owner=\"kiln team\"\n",  // 5
                    "COPY src/", s, " ./src/\n",
                    "RUN make -C src -j4 && echo built ", s, " > /out", s, "\n",
                    "RUN --mount=type=cache,target=/root/.cache go build ./...\n",
                    "EXPOSE 80", s % 10, "\n",
                    "USER 1000:1000\n",  // 10
                    "ENV B", s, "=\"${A", s, ":-none}/x\"\n",
                    "RUN echo $B", s, " >> /log\n",
                    s > 0 ? absl::StrCat("COPY --from=s", s - 1, " /out", s - 1, " /in/\n")
                          : std::string("COPY a b /in/\n"),
                    "VOLUME /data", s, "\n",
                    "STOPSIGNAL SIGTERM\n",  // 15
                    "HEALTHCHECK --interval=5s CMD true\n",
                    "RUN <<EOF\necho heredoc ", s, "\nEOF\n",
                    "ENTRYPOINT [\"/bin/app\"]\n",
                    "CMD [\"--stage\", \"", s, "\"]\n",
                    "ADD archive", s, ".tar /opt/\n");  // 20
  }
  return df;
}

void BM_ParseAndLower(benchmark::State& state) {
  const int stages = static_cast<int>(state.range(0));
  const std::string df = Generate(stages);
  AnyImageResolver resolver;
  LowerOptions opt;
  opt.resolver = &resolver;
  size_t vertices = 0;
  for (auto _ : state) {
    absl::StatusOr<LoweredBuild> b = LowerDockerfileText(df, opt);
    if (!b.ok()) {
      state.SkipWithError(std::string(b.status().message()).c_str());
      return;
    }
    vertices = b->graph.size();
    benchmark::DoNotOptimize(b->final_vertex);
  }
  state.counters["instructions"] = stages * 20;
  state.counters["vertices"] = static_cast<double>(vertices);
  state.SetComplexityN(stages * 20);
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * df.size()));
}
BENCHMARK(BM_ParseAndLower)->Arg(50)->Arg(100)->Arg(200)->Unit(benchmark::kMicrosecond)
    ->Complexity(benchmark::oN);

void BM_ParseOnly(benchmark::State& state) {
  const std::string df = Generate(static_cast<int>(state.range(0)));
  for (auto _ : state) {
    absl::StatusOr<Dockerfile> d = ParseDockerfileInstructions(df, "Dockerfile");
    benchmark::DoNotOptimize(d.ok());
  }
}
BENCHMARK(BM_ParseOnly)->Arg(50)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace kiln::engine

BENCHMARK_MAIN();
