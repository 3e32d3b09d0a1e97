// Prune runs concurrently with builds (issue 5, leases): it returns promptly while a build
// sleeps in a RUN, frees what no running build uses, and the build completes intact. Real
// engine, real overlay snapshots, real sandboxed processes.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "tests/integration/engine_fixture.h"

namespace kiln::testing {
namespace {

// A build on its own thread. The destructor joins, so a failed assertion never leaves a
// joinable thread behind.
class BackgroundBuild {
 public:
  BackgroundBuild(engine::Engine* engine, engine::BuildRequest req)
      : thread_([this, engine, req = std::move(req)] {
          result_ = engine->Build(req, log_.Sink(), nullptr);
          done_ = true;
        }) {}
  ~BackgroundBuild() { Join(); }
  EventLog& log() { return log_; }
  bool done() const { return done_; }
  const absl::StatusOr<engine::BuildResult>& Join() {
    if (thread_.joinable()) thread_.join();
    return result_;
  }

 private:
  EventLog log_;
  std::atomic<bool> done_{false};
  absl::StatusOr<engine::BuildResult> result_ = absl::UnknownError("not run");
  std::thread thread_;  // last: starts once the members it uses exist
};

class PruneConcurrentTest : public EngineTest {
 protected:
  // A fresh context dir holding `dockerfile`.
  std::string Context(const std::string& dockerfile) {
    auto dir = base::TempDir::Create("kiln-prune-ctx-");
    EXPECT_TRUE(dir.ok()) << dir.status();
    dirs_.push_back(std::make_unique<base::TempDir>(std::move(*dir)));
    WriteFile(dirs_.back()->path() + "/Dockerfile", dockerfile);
    return dirs_.back()->path();
  }

  // Waits until `n` steps whose name contains `needle` have started; false after `limit`.
  static bool WaitStarted(EventLog& log, const std::string& needle, int n,
                          absl::Duration limit = absl::Seconds(120)) {
    absl::Time end = absl::Now() + limit;
    while (absl::Now() < end) {
      int started = 0;
      for (const auto& e : log.events()) {
        if (e.kind == engine::BuildEventKind::kStarted && e.name.find(needle) != std::string::npos)
          ++started;
      }
      if (started >= n) return true;
      absl::SleepFor(absl::Milliseconds(20));
    }
    return false;
  }

  static engine::PruneOptions All() {
    engine::PruneOptions o;
    o.all = true;
    return o;
  }

  std::vector<std::unique_ptr<base::TempDir>> dirs_;
};

constexpr int kSleepSeconds = 8;

TEST_F(PruneConcurrentTest, PruneDuringALongRunReturnsPromptlyAndTheBuildStaysIntact) {
  // Something unrelated to prune.
  auto unrelated = Request(Context("FROM busybox:1.35\nRUN echo unrelated > /u\n"));
  ASSERT_TRUE(engine_->Build(unrelated, nullptr, nullptr).ok());

  auto req = Request(Context(absl::StrCat("FROM busybox:1.35\nRUN echo a > /a\nRUN sleep ",
                                          kSleepSeconds, "\nRUN echo done > /b\n")));
  req.exports = {engine::ImageOutput{{"lease/long:1"}}};
  BackgroundBuild build(engine_, req);
  ASSERT_TRUE(WaitStarted(build.log(), "sleep", 1)) << "the RUN sleep step never started";

  auto du = engine_->DiskUsage();
  ASSERT_TRUE(du.ok()) << du.status();
  int in_use = 0;
  for (const auto& u : *du) in_use += u.in_use ? 1 : 0;
  EXPECT_GE(in_use, 2) << "the base image and `echo a` records are held by the build";

  absl::Time t0 = absl::Now();
  auto report = engine_->Prune(All());
  absl::Duration took = absl::Now() - t0;
  bool build_done_at_prune_end = build.done();
  std::printf("prune --all during RUN sleep %d: %s, %d records removed\n", kSleepSeconds,
              absl::FormatDuration(took).c_str(), report.ok() ? report->records_removed : -1);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_FALSE(build_done_at_prune_end) << "prune waited for the build (took " << took << ")";
  EXPECT_LT(took, absl::Seconds(kSleepSeconds / 2)) << "prune must not wait for running builds";
  EXPECT_GE(report->records_removed, 1) << "the unrelated record is not in use";
  EXPECT_GT(report->bytes_freed, 0);

  const absl::StatusOr<engine::BuildResult>& built = build.Join();
  ASSERT_TRUE(built.ok()) << built.status();

  // The build's result is intact: a rebuild is fully cached, and the image runs.
  EventLog again;
  ASSERT_TRUE(engine_->Build(req, again.Sink(), nullptr).ok());
  EXPECT_TRUE(again.Executed().empty()) << "ran again: " << again.Executed().front();
  int code = -1;
  EXPECT_EQ(Run("lease/long:1", {"cat", "/a", "/b"}, &code), "a\ndone\n");
  EXPECT_EQ(code, 0);
  // And the unrelated record really went: its RUN runs again.
  EventLog rerun;
  ASSERT_TRUE(engine_->Build(unrelated, rerun.Sink(), nullptr).ok());
  EXPECT_FALSE(rerun.Executed().empty());
}

TEST_F(PruneConcurrentTest, ParallelStagesSharingAParentSurviveAPruneBetweenThem) {
  auto req = Request(
      Context(absl::StrCat("FROM busybox:1.35 AS base\nRUN echo base > /base\n"
                           "FROM base AS one\nRUN sleep ",
                           kSleepSeconds / 2,
                           " && echo one > /one\n"
                           "FROM base AS two\nRUN sleep ",
                           kSleepSeconds / 2,
                           " && echo two > /two\n"
                           "FROM base\nCOPY --from=one /one /one\nCOPY --from=two /two /two\n")));
  req.exports = {engine::ImageOutput{{"lease/parallel:1"}}};
  BackgroundBuild build(engine_, req);
  ASSERT_TRUE(WaitStarted(build.log(), "sleep", 2)) << "both stages must run at once";

  auto report = engine_->Prune(All());
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_FALSE(build.done()) << "prune waited for the build";
  auto du = engine_->DiskUsage();
  ASSERT_TRUE(du.ok()) << du.status();
  bool base_kept = false;
  for (const auto& u : *du) {
    if (u.description.find("echo base") != std::string::npos) base_kept = u.in_use;
  }
  EXPECT_TRUE(base_kept) << "the shared parent is held while both stages use it";

  const absl::StatusOr<engine::BuildResult>& built = build.Join();
  ASSERT_TRUE(built.ok()) << built.status();
  int code = -1;
  EXPECT_EQ(Run("lease/parallel:1", {"cat", "/base", "/one", "/two"}, &code), "base\none\ntwo\n");
  EventLog again;
  ASSERT_TRUE(engine_->Build(req, again.Sink(), nullptr).ok());
  EXPECT_TRUE(again.Executed().empty()) << "ran again: " << again.Executed().front();
}

// Cache hits race GC's removals for real: builds of a short, mostly cached Dockerfile run
// back to back while prunes run back to back. A hit whose snapshot GC takes must turn into a
// miss (the step reruns), never into a failed build.
TEST_F(PruneConcurrentTest, CacheHitsRacingPrunesAreMissesNeverFailures) {
  auto req = Request(Context("FROM busybox:1.35\nRUN echo one > /one\nRUN echo two > /two\n"));
  req.exports = {engine::ImageOutput{{"lease/race:1"}}};
  ASSERT_TRUE(engine_->Build(req, nullptr, nullptr).ok());
  std::atomic<bool> stop{false};
  std::atomic<int> prunes{0}, removed{0};
  absl::Status prune_error;
  std::thread pruner([&] {
    while (!stop) {
      auto r = engine_->Prune(All());
      if (!r.ok()) {
        prune_error = r.status();
        return;
      }
      ++prunes;
      removed += r->records_removed;
    }
  });
  int builds = 0, cached_steps = 0;
  absl::Time end = absl::Now() + absl::Seconds(10);
  absl::Status build_error;
  while (absl::Now() < end) {
    auto r = engine_->Build(req, nullptr, nullptr);
    if (!r.ok()) {  // stop the pruner before failing: a joinable thread must not be destroyed
      build_error = r.status();
      break;
    }
    ++builds;
    cached_steps += r->steps_cached;
  }
  stop = true;
  pruner.join();
  ASSERT_TRUE(build_error.ok()) << "build " << builds
                                << " failed under concurrent prunes: " << build_error;
  std::printf("%d builds (%d cached steps) against %d prunes that removed %d records\n", builds,
              cached_steps, prunes.load(), removed.load());
  EXPECT_TRUE(prune_error.ok()) << prune_error;
  EXPECT_GE(builds, 3);
  EXPECT_GE(prunes.load(), 3);
  EXPECT_GT(removed.load(), 0) << "prunes must have taken records between builds";
  EXPECT_GT(cached_steps, 0);
  int code = -1;
  EXPECT_EQ(Run("lease/race:1", {"cat", "/one", "/two"}, &code), "one\ntwo\n");
}

}  // namespace
}  // namespace kiln::testing
