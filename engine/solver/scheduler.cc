// Build setup, teardown, readiness and dispatch. Running a job lives in job_runner.cc.
#include "engine/solver/scheduler.h"

#include <algorithm>
#include <limits>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace kiln::engine::solver::internal {

Scheduler::Scheduler(const SolverOptions& options)
    : options_(options),
      clock_(options.clock != nullptr ? options.clock : RealClock()),
      pool_(options.max_parallelism) {}

Scheduler::~Scheduler() = default;

absl::StatusOr<SolveResult> Scheduler::Solve(const BuildRequest& request) {
  for (size_t i = 0; i < request.outputs.size(); ++i) {
    if (request.outputs[i] == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("solve: output ", i, " is null"));
    }
  }
  auto build = std::make_shared<BuildState>();
  build->options = std::make_shared<const BuildOptions>(request.options);
  build->limit = request.options.max_parallelism == 0 ? std::numeric_limits<size_t>::max()
                                                      : request.options.max_parallelism;
  build->sink = request.progress;
  uint64_t cancel_id = 0;
  if (request.cancel != nullptr) {
    cancel_id = request.cancel->AddCallback([this, build] {
      absl::MutexLock lock(&mu_);
      build->cancel_requested = true;
    });
  }
  std::vector<JobRef> to_flush;
  {
    absl::MutexLock lock(&mu_);
    build->id = next_build_id_++;
    if (!build->cancel_requested) StartBuild(*build, request.outputs);
    to_flush.swap(build->to_flush);
  }
  for (const JobRef& job : to_flush) FlushSubscription(*job, *build);
  std::vector<JobRef> subscribed;
  absl::StatusOr<SolveResult> result = FinishBuild(*build, subscribed);
  for (const JobRef& job : subscribed) Unsubscribe(*job, *build);
  if (request.cancel != nullptr) request.cancel->RemoveCallback(cancel_id);
  return result;
}

void Scheduler::StartBuild(BuildState& build, const std::vector<VertexRef>& outputs) {
  absl::flat_hash_map<base::Digest, JobRef> seen;
  for (const VertexRef& output : outputs) build.roots.push_back(AttachVertex(build, output, seen));
  for (const JobRef& root : build.roots) {
    if (root->state != JobState::kDone) build.pending_roots.insert(root.get());
  }
  for (const JobRef& job : build.jobs) {
    if (job->state == JobState::kFailed) {
      build.error = job->status;
      build.finished = true;
      return;
    }
  }
  if (build.pending_roots.empty()) build.finished = true;
  Pump(build);
}

Scheduler::JobRef Scheduler::AttachVertex(BuildState& build, const VertexRef& root,
                                          absl::flat_hash_map<base::Digest, JobRef>& seen) {
  // Iterative post-order walk: inputs get their jobs before the vertex that uses them.
  std::vector<std::pair<const VertexRef*, bool>> stack = {{&root, false}};
  const bool no_cache = build.options->no_cache;
  while (!stack.empty()) {
    auto [vertex, expanded] = stack.back();
    stack.pop_back();
    const base::Digest& digest = (*vertex)->digest();
    if (seen.contains(digest)) continue;
    if (!expanded) {
      auto it = jobs_.find(JobKey{digest, no_cache});
      if (it != jobs_.end()) {
        seen.emplace(digest, it->second);
        AddInterest(build, it->second, /*subscribe=*/true);
        continue;
      }
      stack.push_back({vertex, true});
      const auto& inputs = (*vertex)->inputs();
      for (auto in = inputs.rbegin(); in != inputs.rend(); ++in) {
        if (!seen.contains((*in)->digest())) stack.push_back({&*in, false});
      }
      continue;
    }
    std::vector<JobRef> inputs;
    inputs.reserve((*vertex)->inputs().size());
    for (const VertexRef& in : (*vertex)->inputs()) inputs.push_back(seen.at(in->digest()));
    seen.emplace(digest, CreateJob(build, *vertex, std::move(inputs)));
  }
  return seen.at(root->digest());
}

Scheduler::JobRef Scheduler::CreateJob(BuildState& build, const VertexRef& vertex,
                                       std::vector<JobRef> inputs) {
  auto job = std::make_shared<Job>(vertex, build.options->no_cache, build.options,
                                   options_.log_tail_lines, options_.log_tail_line_bytes);
  const Job* failed_input = nullptr;
  size_t pending = 0;
  for (const JobRef& input : inputs) {
    if (input->state == JobState::kDone) continue;
    if (input->state == JobState::kFailed) {
      failed_input = input.get();
      continue;
    }
    ++pending;
    input->dependents.push_back(job);
  }
  job->inputs = std::move(inputs);
  job->pending_inputs = pending;
  jobs_.emplace(JobKey{vertex->digest(), job->no_cache}, job);
  AddInterest(build, job, /*subscribe=*/true);
  if (failed_input != nullptr) {
    job->state = JobState::kFailed;
    job->status = failed_input->status;
  } else if (pending == 0) {
    MakeReady(job);
  }
  return job;
}

void Scheduler::AddInterest(BuildState& build, const JobRef& start, bool subscribe) {
  std::vector<JobRef> found = {start};
  while (!found.empty()) {
    JobRef job = std::move(found.back());
    found.pop_back();
    if (job->state == JobState::kCancelled) continue;
    if (!build.job_set.insert(job.get()).second) continue;
    job->builds.push_back(&build);
    if (job->state == JobState::kReady) build.ready.push_back(job);
    if (subscribe && build.sink) Subscribe(job, build);
    for (const JobRef& input : job->inputs) {
      if (!build.job_set.contains(input.get())) found.push_back(input);
    }
    build.jobs.push_back(std::move(job));
  }
}

void Scheduler::MakeReady(const JobRef& job) {
  job->state = JobState::kReady;
  for (BuildState* build : job->builds) build->ready.push_back(job);
  for (BuildState* build : job->builds) Pump(*build);
}

void Scheduler::Pump(BuildState& build) {
  while (build.live && build.running < build.limit && !build.ready.empty()) {
    JobRef job = std::move(build.ready.front());
    build.ready.pop_front();
    if (job->state != JobState::kReady) continue;  // taken by another build, or dropped
    job->state = JobState::kQueued;
    job->charged = build.shared_from_this();
    ++build.running;
    Dispatch(std::move(job));
  }
}

namespace {
// The continuation slot of the worker thread currently running a task of `owner`.
struct InlineSlot {
  const Scheduler* owner = nullptr;
  std::shared_ptr<Job> job;
};
thread_local InlineSlot* tls_inline = nullptr;
}  // namespace

void Scheduler::Dispatch(JobRef job) {
  // A worker that just made a job ready runs it next itself (no queue hand-off, no wake-up);
  // anything beyond one continuation goes through the pool so other workers can take it.
  if (tls_inline != nullptr && tls_inline->owner == this && tls_inline->job == nullptr) {
    tls_inline->job = std::move(job);
    return;
  }
  pool_.Submit([this, job = std::move(job)] { RunTask(job); });
}

void Scheduler::RunTask(JobRef job) {
  InlineSlot slot{this, nullptr};
  InlineSlot* saved = tls_inline;
  tls_inline = &slot;
  while (job != nullptr) {
    RunJob(job);
    job = std::move(slot.job);
    slot.job = nullptr;
  }
  tls_inline = saved;
}

void Scheduler::ReleaseCharge(Job& job) {
  if (job.charged == nullptr) return;
  std::shared_ptr<BuildState> build = std::move(job.charged);
  job.charged = nullptr;
  --build->running;
  if (build->live) Pump(*build);
}

absl::StatusOr<SolveResult> Scheduler::FinishBuild(BuildState& build,
                                                   std::vector<JobRef>& subscribed) {
  absl::StatusOr<SolveResult> result;
  std::vector<JobRef> to_cancel;
  Garbage garbage;
  {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(
        +[](BuildState* b) { return b->finished || b->cancel_requested; }, &build));
    if (build.cancel_requested) {
      result = absl::CancelledError("solve: build cancelled");
    } else if (!build.error.ok()) {
      result = build.error;
    } else {
      SolveResult outputs;
      for (const JobRef& root : build.roots) outputs.outputs.push_back(root->result);
      result = std::move(outputs);
    }
    subscribed.swap(build.subscribed);
    DropInterest(build, to_cancel, garbage);
  }
  // Cancel callbacks belong to ops (they may kill processes): run them without mu_.
  for (const JobRef& job : to_cancel) job->cancel.Cancel();
  absl::MutexLock lock(&mu_);
  mu_.Await(absl::Condition(
      +[](BuildState* b) { return b->orphans == 0; }, &build));
  return result;
}

void Scheduler::DropInterest(BuildState& build, std::vector<JobRef>& to_cancel, Garbage& garbage) {
  build.live = false;
  build.ready.clear();
  for (const JobRef& job : build.jobs) {
    auto it = std::find(job->builds.begin(), job->builds.end(), &build);
    if (it != job->builds.end()) job->builds.erase(it);
    if (job->builds.empty()) DropJob(build, job, to_cancel, garbage);
  }
  for (JobRef& job : build.jobs) garbage.jobs.push_back(std::move(job));
  for (JobRef& job : build.roots) garbage.jobs.push_back(std::move(job));
  build.jobs.clear();
  build.roots.clear();
  build.job_set.clear();
  build.pending_roots.clear();
}

void Scheduler::DropJob(BuildState& build, const JobRef& job, std::vector<JobRef>& to_cancel,
                        Garbage& garbage) {
  JobKey key{job->vertex->digest(), job->no_cache};
  auto it = jobs_.find(key);
  if (it != jobs_.end() && it->second == job) jobs_.erase(it);
  if (job->key_registered) {
    auto k = keys_.find(JobKey{job->cache_key, job->no_cache});
    if (k != keys_.end() && k->second == job) keys_.erase(k);
    job->key_registered = false;
  }
  switch (job->state) {
    case JobState::kRunning:
      // Still on a worker: tell the op to stop, and make the build wait until it has.
      to_cancel.push_back(job);
      job->orphan_owner = build.shared_from_this();
      ++build.orphans;
      return;
    case JobState::kQueued:
      ReleaseCharge(*job);
      break;
    case JobState::kCancelled:
      return;
    default:
      break;
  }
  job->state = JobState::kCancelled;
  job->leader = nullptr;
  if (job->result != nullptr) garbage.results.push_back(std::move(job->result));
  job->result = nullptr;
  for (JobRef& input : job->inputs) garbage.jobs.push_back(std::move(input));
  job->inputs.clear();
}

}  // namespace kiln::engine::solver::internal
