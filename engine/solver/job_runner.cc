// Running one job on a worker: cache key, single-flight by key, cache lookup, exec,
// completion and progress events.
#include <algorithm>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "base/status.h"
#include "base/thread_pool.h"
#include "engine/solver/scheduler.h"
#include "engine/solver/step_error.h"

namespace kiln::engine::solver::internal {

// The ExecContext the solver hands to ops. Lives on the worker's stack for one call.
class JobContext final : public ExecContext {
 public:
  JobContext(Scheduler* scheduler, Job* job) : scheduler_(scheduler), job_(job) {}

  const Cancellation& cancel() const override { return job_->cancel; }
  void Log(LogStream stream, std::string_view bytes) override {
    scheduler_->EmitLog(*job_, stream, bytes);
  }
  void Progress(int64_t current, int64_t total) override {
    ProgressEvent event = scheduler_->MakeEvent(*job_, ProgressKind::kProgress);
    event.current = current;
    event.total = total;
    scheduler_->Emit(*job_, event);
  }
  const BuildOptions& options() const override { return *job_->options; }
  const Vertex& vertex() const override { return *job_->vertex; }

 private:
  Scheduler* scheduler_;
  Job* job_;
};

namespace {

bool IsTerminal(JobState state) {
  return state == JobState::kDone || state == JobState::kFailed || state == JobState::kCancelled;
}

// The outcome of a step that failed with `cause`, with the tail of its output.
Outcome Failure(Job& job, const absl::Status& cause) {
  std::vector<std::string> tail;
  {
    absl::MutexLock lock(&job.emit_mu);
    tail = job.tail.Lines();
  }
  // "Dockerfile:12" when the vertex came from a Dockerfile line.
  std::string location;
  const auto& fields = job.vertex->display().fields;
  if (auto line = fields.find("dockerfile.line"); line != fields.end()) {
    auto file = fields.find("dockerfile");
    location = absl::StrCat(file != fields.end() ? file->second : "Dockerfile", ":", line->second);
  }
  return Outcome{
      MakeStepError(cause, job.vertex->name(), job.vertex->digest().str(), tail, location),
      nullptr, false};
}

// Hands `event` to the job's subscribers (buffering it for those still awaiting replay).
void Deliver(Job& job, const ProgressEvent& event) ABSL_EXCLUSIVE_LOCKS_REQUIRED(job.emit_mu) {
  for (Job::Subscriber& subscriber : job.subscribers) {
    if (subscriber.pending) {
      subscriber.buffered.push_back(event);
    } else {
      (*subscriber.sink)(event);
    }
  }
}

}  // namespace

void Scheduler::RunJob(const JobRef& job) {
  std::vector<InputRef> inputs;
  if (!StartRunning(job, inputs)) return;
  Emit(*job, MakeEvent(*job, ProgressKind::kStarted));
  Outcome outcome;
  JobRef leader;
  if (inputs.size() != job->vertex->inputs().size()) {
    outcome = Failure(*job, absl::InternalError("an input of the step has no result"));
  } else {
    JobContext ctx(this, job.get());
    absl::StatusOr<base::Digest> key = job->vertex->op().CacheKey(ctx, inputs);
    if (!key.ok()) {
      outcome = Failure(*job, base::Annotate(key.status(), "compute cache key"));
    } else {
      leader = ClaimCacheKey(job, *key);
      if (leader == nullptr) outcome = Compute(job, *key, inputs);
    }
  }
  // Drop our references to the inputs before completing: once a cancelled build has seen
  // this job complete it expects every result it held to be released.
  inputs.clear();
  if (leader != nullptr) {
    Follow(job, leader);
  } else {
    Complete(job, std::move(outcome));
  }
}

bool Scheduler::StartRunning(const JobRef& job, std::vector<InputRef>& inputs) {
  absl::MutexLock lock(&mu_);
  if (job->state != JobState::kQueued) return false;  // dropped while queued
  job->state = JobState::kRunning;
  inputs.reserve(job->inputs.size());
  for (const JobRef& input : job->inputs) {
    if (input->state != JobState::kDone || input->result == nullptr) break;
    inputs.push_back(InputRef{input->vertex.get(), input->cache_key, input->result});
  }
  return true;
}

Scheduler::JobRef Scheduler::ClaimCacheKey(const JobRef& job, const base::Digest& key) {
  absl::MutexLock lock(&mu_);
  job->cache_key = key;
  if (job->builds.empty()) return nullptr;  // dropped: it is being cancelled anyway
  auto [it, inserted] = keys_.try_emplace(JobKey{key, job->no_cache}, job);
  if (!inserted && it->second != job) {
    if (it->second->state != JobState::kCancelled) return it->second;
    it->second = job;
  }
  job->key_registered = true;
  return nullptr;
}

Outcome Scheduler::Compute(const JobRef& job, const base::Digest& key,
                           std::vector<InputRef>& inputs) {
  CacheSeam* cache = options_.cache;
  const Vertex& vertex = *job->vertex;
  if (cache != nullptr && !job->no_cache) {
    absl::StatusOr<ResultRef> hit = cache->Lookup(key, vertex);
    if (!hit.ok()) return Failure(*job, base::Annotate(hit.status(), "cache lookup"));
    if (*hit != nullptr) return Outcome{absl::OkStatus(), *std::move(hit), true};
  }
  // Save says Aborted when the result was collected under the step (an op that reused
  // existing data raced GC): the op then runs again, a few times at most.
  constexpr int kAttempts = 3;
  for (int attempt = 1;; ++attempt) {
    if (job->cancel.cancelled()) return Failure(*job, absl::CancelledError("step cancelled"));
    JobContext ctx(this, job.get());
    absl::StatusOr<ResultRef> result = vertex.op().Exec(ctx, inputs);
    if (!result.ok()) return Failure(*job, result.status());
    if (*result == nullptr) return Failure(*job, absl::InternalError("op returned no result"));
    if (cache != nullptr) {
      absl::Status saved = cache->Save(key, *result, vertex);
      if (absl::IsAborted(saved) && attempt < kAttempts) continue;
      if (!saved.ok()) return Failure(*job, base::Annotate(saved, "cache save"));
    }
    return Outcome{absl::OkStatus(), *std::move(result), false};
  }
}

void Scheduler::Follow(const JobRef& job, const JobRef& leader) {
  Outcome now;
  bool leader_done = false;
  {
    absl::MutexLock lock(&mu_);
    if (!job->builds.empty()) {
      job->state = JobState::kFollowing;
      job->leader = leader;
      leader->followers.push_back(job);
      // The follower's builds now need the leader: it must not be cancelled under them.
      // Their sinks stay on the follower's own vertex, so no subscription.
      for (BuildState* build : job->builds) AddInterest(*build, leader, /*subscribe=*/false);
      leader_done = IsTerminal(leader->state);
      if (leader_done) now = Outcome{leader->status, leader->result, leader->result != nullptr};
      ReleaseCharge(*job);
      if (!leader_done) return;
    }
  }
  if (!leader_done) now = Failure(*job, absl::CancelledError("step cancelled"));
  Complete(job, std::move(now));
}

void Scheduler::Complete(const JobRef& job, Outcome outcome) {
  if (outcome.status.ok()) {
    if (outcome.cached) Emit(*job, MakeEvent(*job, ProgressKind::kCached));
    ProgressEvent done = MakeEvent(*job, ProgressKind::kCompleted);
    done.cached = outcome.cached;
    Emit(*job, done);
  } else {
    ProgressEvent error = MakeEvent(*job, ProgressKind::kError);
    error.status = outcome.status;
    Emit(*job, error);
  }
  std::vector<JobRef> followers;
  Garbage garbage;
  std::shared_ptr<BuildState> orphan_owner;
  {
    absl::MutexLock lock(&mu_);
    CompleteLocked(job, outcome, followers, garbage, orphan_owner);
  }
  for (const JobRef& follower : followers) {
    // An identical step ran (or was cached) under another vertex: report a cache hit.
    Complete(follower, Outcome{outcome.status, outcome.result, outcome.status.ok()});
  }
  if (orphan_owner != nullptr) {
    // A cancelled build waits for this: release everything first.
    outcome = Outcome();
    garbage = Garbage();
    absl::MutexLock lock(&mu_);
    --orphan_owner->orphans;
  }
}

void Scheduler::CompleteLocked(const JobRef& job, const Outcome& outcome,
                               std::vector<JobRef>& followers, Garbage& garbage,
                               std::shared_ptr<BuildState>& orphan_owner) {
  if (IsTerminal(job->state)) return;
  ReleaseCharge(*job);
  job->leader = nullptr;
  if (job->builds.empty()) {  // dropped while running: discard
    job->state = JobState::kCancelled;
    if (job->key_registered) {
      auto k = keys_.find(JobKey{job->cache_key, job->no_cache});
      if (k != keys_.end() && k->second == job) keys_.erase(k);
      job->key_registered = false;
    }
    for (JobRef& input : job->inputs) garbage.jobs.push_back(std::move(input));
    job->inputs.clear();
    orphan_owner = std::move(job->orphan_owner);
    job->orphan_owner = nullptr;
    return;
  }
  const bool ok = outcome.status.ok();
  job->state = ok ? JobState::kDone : JobState::kFailed;
  job->status = outcome.status;
  job->result = outcome.result;
  job->cached = outcome.cached;
  for (const std::weak_ptr<Job>& weak : job->dependents) {
    JobRef dependent = weak.lock();
    if (dependent == nullptr || dependent->state != JobState::kWaiting) continue;
    if (!ok) {
      PropagateFailure(dependent, job->status);
    } else if (--dependent->pending_inputs == 0) {
      MakeReady(dependent);
    }
  }
  job->dependents.clear();
  for (const std::weak_ptr<Job>& weak : job->followers) {
    JobRef follower = weak.lock();
    if (follower != nullptr && follower->state == JobState::kFollowing) {
      followers.push_back(std::move(follower));
    }
  }
  job->followers.clear();
  NotifyBuilds(*job);
}

void Scheduler::PropagateFailure(const JobRef& start, const absl::Status& status) {
  std::vector<JobRef> stack = {start};
  while (!stack.empty()) {
    JobRef job = std::move(stack.back());
    stack.pop_back();
    if (job->state != JobState::kWaiting) continue;
    job->state = JobState::kFailed;
    job->status = status;
    NotifyBuilds(*job);
    for (const std::weak_ptr<Job>& weak : job->dependents) {
      if (JobRef dependent = weak.lock()) stack.push_back(std::move(dependent));
    }
    job->dependents.clear();
  }
}

void Scheduler::NotifyBuilds(const Job& job) {
  for (BuildState* build : job.builds) {
    if (build->finished) continue;
    if (job.state == JobState::kFailed) {
      build->error = job.status;
      build->finished = true;
    } else if (build->pending_roots.erase(&job) > 0 && build->pending_roots.empty()) {
      build->finished = true;
    }
  }
}

ProgressEvent Scheduler::MakeEvent(const Job& job, ProgressKind kind) const {
  ProgressEvent event;
  event.kind = kind;
  event.vertex = job.vertex;
  event.time = clock_->Now();
  event.worker = base::ThreadPool::CurrentWorkerIndex();
  return event;
}

void Scheduler::Emit(Job& job, const ProgressEvent& event) {
  absl::MutexLock lock(&job.emit_mu);
  if (event.kind != ProgressKind::kLog && event.kind != ProgressKind::kProgress) {
    if (job.lifecycle.empty()) job.lifecycle.reserve(3);  // started, cached, completed
    job.lifecycle.push_back(event);
  }
  Deliver(job, event);
}

void Scheduler::EmitLog(Job& job, LogStream stream, std::string_view bytes) {
  ProgressEvent event = MakeEvent(job, ProgressKind::kLog);
  event.stream = stream;
  absl::MutexLock lock(&job.emit_mu);
  job.tail.Append(bytes);
  if (job.subscribers.empty()) return;
  event.data = std::string(bytes);
  Deliver(job, event);
}

void Scheduler::Subscribe(const JobRef& job, BuildState& build) {
  bool pending = false;
  {
    absl::MutexLock lock(&job->emit_mu);
    Job::Subscriber subscriber;
    subscriber.build_id = build.id;
    subscriber.sink = &build.sink;
    // Events already emitted are replayed later, outside mu_ (sinks never run under it).
    subscriber.pending = pending = !job->lifecycle.empty();
    subscriber.replay = job->lifecycle.size();
    job->subscribers.push_back(std::move(subscriber));
  }
  build.subscribed.push_back(job);
  if (pending) build.to_flush.push_back(job);
}

void Scheduler::FlushSubscription(Job& job, const BuildState& build) {
  absl::MutexLock lock(&job.emit_mu);
  for (Job::Subscriber& subscriber : job.subscribers) {
    if (subscriber.build_id != build.id || !subscriber.pending) continue;
    for (size_t i = 0; i < subscriber.replay; ++i) (*subscriber.sink)(job.lifecycle[i]);
    for (const ProgressEvent& event : subscriber.buffered) (*subscriber.sink)(event);
    subscriber.buffered.clear();
    subscriber.pending = false;
  }
}

void Scheduler::Unsubscribe(Job& job, const BuildState& build) {
  absl::MutexLock lock(&job.emit_mu);
  auto& subs = job.subscribers;
  subs.erase(std::remove_if(subs.begin(), subs.end(),
                            [&](const Job::Subscriber& s) { return s.build_id == build.id; }),
             subs.end());
}

}  // namespace kiln::engine::solver::internal
