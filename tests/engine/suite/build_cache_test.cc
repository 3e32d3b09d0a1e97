// Cache hits and misses, early cutoff, RUN through the Executor seam and progress events,
// through the whole engine on fakes (no root, no mount, no process).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <map>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/status.h"
#include "base/unique_fd.h"
#include "engine/solver/step_error.h"
#include "tests/engine/suite/engine_harness.h"

namespace kiln::engine::testing {
namespace {

// A script that writes `data` to `rel` in the rootfs.
FakeExecutor::Script Writes(std::string rel, std::string data) {
  return [rel, data](int root, const sandbox::Spec&) -> absl::Status {
    base::UniqueFd fd(::openat(root, rel.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (!fd) return base::ErrnoError(absl::StrCat("fake run: create '", rel, "'"));
    if (::write(fd.get(), data.data(), data.size()) != static_cast<ssize_t>(data.size())) {
      return base::ErrnoError("fake run: write");
    }
    return absl::OkStatus();
  };
}

// A script that copies /in/<from> to /<to> (a "compiler" whose output is its input's size
// class), so a change to the input may leave the output identical.
FakeExecutor::Script Compiles(std::string from, std::string to) {
  return [from, to](int root, const sandbox::Spec& spec) -> absl::Status {
    std::string src = "in/" + from;
    base::UniqueFd in(::openat(root, src.c_str(), O_RDONLY | O_CLOEXEC));
    if (!in) return base::ErrnoError(absl::StrCat("fake compile: open '", src, "'"));
    char buf[256];
    ssize_t n = ::read(in.get(), buf, sizeof buf);
    if (n < 0) return base::ErrnoError("fake compile: read");
    return Writes(to, absl::StrCat("binary of ", n, " bytes\n"))(root, spec);
  };
}

class BuildCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto h = EngineHarness::Create();
    ASSERT_TRUE(h.ok()) << h.status();
    h_ = std::move(*h);
    ASSERT_TRUE(h_->WriteContext("main.c", "int main(){}\n").ok());
    ASSERT_TRUE(h_->WriteContext("README", "read me\n").ok());
  }
  std::unique_ptr<EngineHarness> h_;
};

// The build context's step: it runs in every build (nothing to cache: it is read in place).
constexpr char kContext[] = "load build context";

constexpr char kTwoStage[] =
    "FROM base AS builder\n"
    "COPY main.c /in/\n"
    "RUN cc main.c\n"
    "FROM base\n"
    "COPY --from=builder /app /app\n"
    "RUN post-install\n"
    "COPY README /\n";

TEST_F(BuildCacheTest, SecondBuildIsAllCacheHitsAndRunsNothing) {
  h_->executor().On("cc main.c", Compiles("main.c", "app"));
  h_->executor().On("post-install", Writes("installed", "yes\n"));
  auto first = h_->Build(kTwoStage);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(h_->executor().Runs("cc main.c"), 1);
  EXPECT_EQ(h_->executor().Runs("post-install"), 1);
  auto tree = h_->TreeOf(first->top);
  ASSERT_TRUE(tree.ok()) << tree.status();
  EXPECT_EQ((*tree)["app"].data, "binary of 13 bytes\n");
  EXPECT_EQ((*tree)["installed"].data, "yes\n");
  EXPECT_EQ((*tree)["README"].data, "read me\n");

  auto second = h_->Build(kTwoStage);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->top, first->top);
  EXPECT_EQ(h_->executor().Runs("cc main.c"), 1) << "a cache hit ran the step again";
  EXPECT_EQ(h_->executor().Runs("post-install"), 1);
  // Only the context "runs" (it is read in place, never cached by key).
  EXPECT_EQ(second->Ran(), (std::vector<std::string>{kContext, kContext}))
      << "ran: " << absl::StrJoin(second->Ran(), ", ");
  EXPECT_EQ(second->Cached().size(), first->Ran().size() + first->Cached().size() - 2);
  EXPECT_EQ(h_->image_unpacks(), 1);
}

TEST_F(BuildCacheTest, ChangedContextMissesFromTheCopyOn) {
  h_->executor().On("cc main.c", Compiles("main.c", "app"));
  h_->executor().On("post-install", Writes("installed", "yes\n"));
  ASSERT_TRUE(h_->Build(kTwoStage).ok());
  ASSERT_TRUE(h_->WriteContext("README", "read me again\n").ok());
  auto o = h_->Build(kTwoStage);
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(h_->executor().Runs("cc main.c"), 1);
  EXPECT_EQ(h_->executor().Runs("post-install"), 1) << "the RUN before the changed COPY reran";
  EXPECT_EQ(o->Ran(), (std::vector<std::string>{kContext, kContext, "[stage-1 4/4] COPY README /"}))
      << absl::StrJoin(o->Ran(), ", ");
  auto tree = h_->TreeOf(o->top);
  ASSERT_TRUE(tree.ok());
  EXPECT_EQ((*tree)["README"].data, "read me again\n");
}

TEST_F(BuildCacheTest, EarlyCutoffKeepsTheRuntimeStageCached) {
  h_->executor().On("cc main.c", Compiles("main.c", "app"));
  h_->executor().On("post-install", Writes("installed", "yes\n"));
  auto first = h_->Build(kTwoStage);
  ASSERT_TRUE(first.ok()) << first.status();
  // Same size: the builder reruns and makes byte-identical output.
  ASSERT_TRUE(h_->WriteContext("main.c", "int main(){ }").ok());
  auto second = h_->Build(kTwoStage);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(h_->executor().Runs("cc main.c"), 2) << "the builder's input changed";
  EXPECT_EQ(h_->executor().Runs("post-install"), 1)
      << "identical builder output must leave COPY --from and what follows cached";
  EXPECT_EQ(second->top, first->top);

  // Different output: everything after the COPY --from runs again.
  ASSERT_TRUE(h_->WriteContext("main.c", "int main(){return 0;}\n").ok());
  auto third = h_->Build(kTwoStage);
  ASSERT_TRUE(third.ok()) << third.status();
  EXPECT_EQ(h_->executor().Runs("cc main.c"), 3);
  EXPECT_EQ(h_->executor().Runs("post-install"), 2);
  EXPECT_NE(third->top, first->top);
}

TEST_F(BuildCacheTest, RunGetsTheSpecAndItsOutputBecomesLogEvents) {
  h_->executor().On("echo hi", Writes("hi", "hi\n"), "hi from the run\n");
  auto o = h_->Build("FROM base\nENV GREETING=hello\nWORKDIR /tmp\nUSER app\nRUN echo hi\n");
  ASSERT_TRUE(o.ok()) << o.status();
  std::vector<sandbox::Spec> runs = h_->executor().AllRuns();
  ASSERT_EQ(runs.size(), 1u);
  const sandbox::Spec& spec = runs[0];
  EXPECT_EQ(spec.argv, (std::vector<std::string>{"/bin/sh", "-c", "echo hi"}));
  EXPECT_EQ(spec.cwd, "/tmp");
  EXPECT_EQ(spec.user, "app");
  EXPECT_NE(std::find(spec.env.begin(), spec.env.end(), "GREETING=hello"), spec.env.end());
  EXPECT_NE(std::find(spec.env.begin(), spec.env.end(), "PATH=/usr/local/bin:/usr/bin:/bin"),
            spec.env.end());
  EXPECT_EQ(spec.network, sandbox::NetworkMode::kDefault);

  // Every step: started before completed, once; the RUN's output as a log event.
  std::map<std::string, std::vector<solver::ProgressKind>> by_step;
  std::string logged;
  for (const auto& e : o->events) {
    by_step[e.vertex->name()].push_back(e.kind);
    if (e.kind == solver::ProgressKind::kLog) logged += e.data;
  }
  EXPECT_EQ(logged, "hi from the run\n");
  ASSERT_FALSE(by_step.empty());
  for (const auto& [name, kinds] : by_step) {
    ASSERT_FALSE(kinds.empty());
    EXPECT_EQ(kinds.front(), solver::ProgressKind::kStarted) << name;
    EXPECT_EQ(kinds.back(), solver::ProgressKind::kCompleted) << name;
  }
  bool saw_run = false;
  for (const auto& [name, kinds] : by_step)
    saw_run = saw_run || absl::StrContains(name, "RUN echo hi");
  EXPECT_TRUE(saw_run);

  // Rebuilt: every step is reported cached, and nothing logs.
  auto again = h_->Build("FROM base\nENV GREETING=hello\nWORKDIR /tmp\nUSER app\nRUN echo hi\n");
  ASSERT_TRUE(again.ok()) << again.status();
  for (const auto& e : again->events) {
    EXPECT_NE(e.kind, solver::ProgressKind::kLog);
    if (e.kind == solver::ProgressKind::kCompleted) {
      EXPECT_TRUE(e.cached) << e.vertex->name();
    }
  }
}

TEST_F(BuildCacheTest, FailingRunReportsItsExitCodeAndIsNotCached) {
  h_->executor().On("false", nullptr, "it went wrong\n", 3);
  auto o = h_->Build("FROM base\nRUN false\n");
  ASSERT_FALSE(o.ok());
  EXPECT_EQ(solver::ExitCodeOf(o.status()), 3) << o.status();
  EXPECT_TRUE(absl::StrContains(o.status().message(), "it went wrong")) << o.status();
  auto again = h_->Build("FROM base\nRUN false\n");
  EXPECT_FALSE(again.ok());
  EXPECT_EQ(h_->executor().Runs("false"), 2) << "a failed step must not be cached";
}

TEST_F(BuildCacheTest, UnsupportedStepNamesTheLine) {
  auto o = h_->Build("FROM base\nADD https://example.invalid/x /x\n");
  ASSERT_FALSE(o.ok());
  EXPECT_EQ(o.status().code(), absl::StatusCode::kInvalidArgument);
  // The URL is a source vertex of its own (no Dockerfile line of its own, as before).
  EXPECT_TRUE(absl::StrContains(o.status().message(),
                                "ADD from a URL (this machine has no network) is not supported"))
      << o.status();
  auto ssh = h_->Build("FROM base\nRUN --mount=type=ssh true\n");
  ASSERT_FALSE(ssh.ok());
  EXPECT_TRUE(absl::StrContains(ssh.status().message(),
                                "Dockerfile:2: RUN --mount=type=ssh is not supported yet"))
      << ssh.status();
}

}  // namespace
}  // namespace kiln::engine::testing
