// FakeEngine: an in-memory Engine for testing the daemon, the client and the progress views.
// Its builds replay a script of steps (started/cached, log lines, a duration, optional failure)
// as realistic BuildEvents, can block until cancelled, and it counts what happened so tests
// can check that cancellation reached the build. Header-only. Thread-safe.
#ifndef KILN_TESTS_FAKES_FAKE_ENGINE_H_
#define KILN_TESTS_FAKES_FAKE_ENGINE_H_

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "engine/core/engine.h"
#include "engine/solver/cancellation.h"

namespace kiln::engine {

struct FakeStep {
  std::string name;                  // "[builder 2/4] RUN go build ."
  bool cached = false;
  std::vector<std::string> logs;     // lines written to stdout while it runs
  absl::Duration duration = absl::ZeroDuration();
  bool fail = false;                 // the step fails (exit code 1) after its logs
  int worker = 0;
};

class FakeEngine : public Engine {
 public:
  void SetSteps(std::vector<FakeStep> steps) {
    absl::MutexLock lock(&mu_);
    steps_ = std::move(steps);
  }
  // Builds block after their first started step until cancelled.
  void SetBlockUntilCancelled(bool block) {
    absl::MutexLock lock(&mu_);
    block_ = block;
  }
  void SetImages(std::vector<ImageSummary> images) {
    absl::MutexLock lock(&mu_);
    images_ = std::move(images);
  }
  void SetUsage(std::vector<UsageRecord> usage) {
    absl::MutexLock lock(&mu_);
    usage_ = std::move(usage);
  }

  int builds_started() const { absl::MutexLock lock(&mu_); return started_; }
  int builds_cancelled() const { absl::MutexLock lock(&mu_); return cancelled_; }
  int builds_running() const { absl::MutexLock lock(&mu_); return running_; }
  int max_concurrent() const { absl::MutexLock lock(&mu_); return max_running_; }
  BuildRequest last_request() const { absl::MutexLock lock(&mu_); return last_request_; }
  PruneOptions last_prune() const { absl::MutexLock lock(&mu_); return last_prune_; }
  std::vector<std::string> removed() const { absl::MutexLock lock(&mu_); return removed_; }

  // Waits until `n` builds are running (inside Build). False on timeout.
  bool WaitForRunning(int n, absl::Duration timeout) const {
    absl::MutexLock lock(&mu_);
    auto ready = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return running_ >= n; };
    return mu_.AwaitWithTimeout(absl::Condition(&ready), timeout);
  }
  // Waits until no build is running. False on timeout.
  bool WaitForIdle(absl::Duration timeout) const {
    absl::MutexLock lock(&mu_);
    auto idle = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return running_ == 0; };
    return mu_.AwaitWithTimeout(absl::Condition(&idle), timeout);
  }

  absl::StatusOr<BuildResult> Build(const BuildRequest& request, BuildEventSink events,
                                    solver::Cancellation* cancel) override {
    std::vector<FakeStep> steps;
    bool block = false;
    {
      absl::MutexLock lock(&mu_);
      ++started_;
      ++running_;
      max_running_ = std::max(max_running_, running_);
      last_request_ = request;
      steps = steps_;
      block = block_;
    }
    absl::StatusOr<BuildResult> result = Run(steps, block, events, cancel);
    absl::MutexLock lock(&mu_);
    --running_;
    if (absl::IsCancelled(result.status())) ++cancelled_;
    return result;
  }

  absl::StatusOr<std::vector<ImageSummary>> ListImages() override {
    absl::MutexLock lock(&mu_);
    return images_;
  }
  absl::StatusOr<std::vector<std::string>> ImportImage(const std::string& path,
                                                       const std::string& name) override {
    absl::MutexLock lock(&mu_);
    std::string ref = name.empty() ? "imported:" + path.substr(path.find_last_of('/') + 1) : name;
    images_.push_back(ImageSummary{ref, base::Digest::Of(path), 1234, 1700000000});
    return std::vector<std::string>{ref};
  }
  absl::Status RemoveImage(const std::string& ref) override {
    absl::MutexLock lock(&mu_);
    auto it = std::find_if(images_.begin(), images_.end(),
                           [&](const ImageSummary& i) { return i.ref == ref; });
    if (it == images_.end()) {
      return absl::NotFoundError(absl::StrCat("remove image '", ref, "': no such image"));
    }
    images_.erase(it);
    removed_.push_back(ref);
    return absl::OkStatus();
  }
  absl::StatusOr<std::vector<UsageRecord>> DiskUsage() override {
    absl::MutexLock lock(&mu_);
    return usage_;
  }
  absl::StatusOr<PruneReport> Prune(const PruneOptions& options) override {
    absl::MutexLock lock(&mu_);
    last_prune_ = options;
    PruneReport report;
    for (const UsageRecord& r : usage_) {
      if (!r.in_use) {
        report.bytes_freed += r.size_bytes;
        ++report.records_removed;
      }
    }
    usage_.erase(std::remove_if(usage_.begin(), usage_.end(),
                                [](const UsageRecord& r) { return !r.in_use; }),
                 usage_.end());
    return report;
  }
  WorkerInfo Workers() override { return WorkerInfo{{{"engine", "fake"}, {"workers", "2"}}}; }
  // The fake has no sandbox: the daemon tests never run images through it.
  absl::StatusOr<int> RunImage(const std::string&, const RunOptions&) override {
    return absl::UnimplementedError("the fake engine does not run images");
  }

  static int64_t Now() { return absl::ToUnixNanos(absl::Now()); }

 private:
  static BuildEvent Event(BuildEventKind kind, const FakeStep& step, int index) {
    BuildEvent e;
    e.kind = kind;
    e.vertex = base::Digest::Of(step.name).str();
    e.name = step.name;
    e.index = index;
    e.time_unix_nanos = Now();
    e.worker = step.cached ? -1 : step.worker;
    return e;
  }

  static absl::StatusOr<BuildResult> Run(const std::vector<FakeStep>& steps, bool block,
                                         const BuildEventSink& events,
                                         solver::Cancellation* cancel) {
    auto emit = [&](const BuildEvent& e) { if (events) events(e); };
    BuildResult result;
    for (size_t i = 0; i < steps.size(); ++i) {
      const FakeStep& step = steps[i];
      int index = static_cast<int>(i) + 1;
      StepTiming timing{base::Digest::Of(step.name).str(), step.name, step.cached, Now(), 0};
      if (step.cached) {
        emit(Event(BuildEventKind::kCached, step, index));
        ++result.steps_cached;
      } else {
        emit(Event(BuildEventKind::kStarted, step, index));
        for (const std::string& line : step.logs) {
          BuildEvent log = Event(BuildEventKind::kLog, step, index);
          log.data = line + "\n";
          emit(log);
        }
        if (block) {
          while (cancel != nullptr && !cancel->WaitFor(absl::Milliseconds(100))) {}
        } else if (cancel != nullptr && step.duration > absl::ZeroDuration()) {
          cancel->WaitFor(step.duration);
        }
        if (cancel != nullptr && cancel->cancelled()) {
          BuildEvent err = Event(BuildEventKind::kError, step, index);
          err.error = "cancelled";
          emit(err);
          return absl::CancelledError("build cancelled");
        }
        if (step.fail) {
          BuildEvent err = Event(BuildEventKind::kError, step, index);
          err.error = absl::StrCat("process \"/bin/sh -c ", step.name,
                                   "\" did not complete successfully: exit code: 1");
          emit(err);
          return absl::AbortedError(absl::StrCat("Dockerfile:", index + 1, ": ", step.name,
                                                 ": exit code 1"));
        }
      }
      BuildEvent done = Event(BuildEventKind::kCompleted, step, index);
      done.cached = step.cached;
      emit(done);
      timing.completed_unix_nanos = Now();
      result.steps.push_back(timing);
    }
    result.steps_total = static_cast<int>(steps.size());
    result.manifest_digest = base::Digest::Of("fake manifest");
    result.config_digest = base::Digest::Of("fake config");
    result.image_size_bytes = 4096;
    return result;
  }

  mutable absl::Mutex mu_;
  std::vector<FakeStep> steps_ ABSL_GUARDED_BY(mu_);
  bool block_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<ImageSummary> images_ ABSL_GUARDED_BY(mu_);
  std::vector<UsageRecord> usage_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> removed_ ABSL_GUARDED_BY(mu_);
  BuildRequest last_request_ ABSL_GUARDED_BY(mu_);
  PruneOptions last_prune_ ABSL_GUARDED_BY(mu_);
  int started_ ABSL_GUARDED_BY(mu_) = 0;
  int cancelled_ ABSL_GUARDED_BY(mu_) = 0;
  int running_ ABSL_GUARDED_BY(mu_) = 0;
  int max_running_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace kiln::engine

#endif  // KILN_TESTS_FAKES_FAKE_ENGINE_H_
