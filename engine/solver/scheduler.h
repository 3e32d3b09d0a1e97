// Scheduler: the implementation behind Solver (see solver.h for the contract). Not API.
#ifndef KILN_ENGINE_SOLVER_SCHEDULER_H_
#define KILN_ENGINE_SOLVER_SCHEDULER_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "base/thread_pool.h"
#include "engine/solver/job.h"
#include "engine/solver/solver.h"

namespace kiln::engine::solver::internal {

class Scheduler {
 public:
  explicit Scheduler(const SolverOptions& options);
  ~Scheduler();

  absl::StatusOr<SolveResult> Solve(const BuildRequest& request);
  size_t parallelism() const { return pool_.size(); }

 private:
  using JobRef = std::shared_ptr<Job>;
  // Objects whose destructors must run outside mu_ (results release leases).
  struct Garbage {
    std::vector<ResultRef> results;
    std::vector<JobRef> jobs;
  };

  // --- build setup and teardown (scheduler.cc) ---
  JobRef AttachVertex(BuildState& build, const VertexRef& vertex,
                      absl::flat_hash_map<base::Digest, JobRef>& seen)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  JobRef CreateJob(BuildState& build, const VertexRef& vertex, std::vector<JobRef> inputs)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Makes `build` hold `job` and its inputs; with `subscribe`, the build's sink also gets
  // their progress events.
  void AddInterest(BuildState& build, const JobRef& job, bool subscribe)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void StartBuild(BuildState& build, const std::vector<VertexRef>& outputs)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Waits for the build to end, releases it; returns the jobs to unsubscribe from.
  absl::StatusOr<SolveResult> FinishBuild(BuildState& build, std::vector<JobRef>& subscribed);
  void DropInterest(BuildState& build, std::vector<JobRef>& to_cancel, Garbage& garbage)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void DropJob(BuildState& build, const JobRef& job, std::vector<JobRef>& to_cancel,
               Garbage& garbage) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // --- readiness and dispatch (scheduler.cc) ---
  void MakeReady(const JobRef& job) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Pump(BuildState& build) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ReleaseCharge(Job& job) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Hands a queued job to a worker (see scheduler.cc: continuation on the same worker).
  void Dispatch(JobRef job) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // A pool task: runs `job`, then any continuation it dispatched.
  void RunTask(JobRef job);

  // --- running a job (job_runner.cc) ---
  void RunJob(const JobRef& job);
  bool StartRunning(const JobRef& job, std::vector<InputRef>& inputs) ABSL_LOCKS_EXCLUDED(mu_);
  // Registers the job's cache key; returns the leader to follow if another job owns it.
  JobRef ClaimCacheKey(const JobRef& job, const base::Digest& key) ABSL_LOCKS_EXCLUDED(mu_);
  Outcome Compute(const JobRef& job, const base::Digest& key, std::vector<InputRef>& inputs);
  void Follow(const JobRef& job, const JobRef& leader);
  void Complete(const JobRef& job, Outcome outcome) ABSL_LOCKS_EXCLUDED(mu_);
  // Records the outcome and wakes dependents, followers and builds. For a job dropped while
  // running it sets `orphan_owner` instead: the caller must release its references and then
  // decrement that build's orphan count.
  void CompleteLocked(const JobRef& job, const Outcome& outcome, std::vector<JobRef>& followers,
                      Garbage& garbage, std::shared_ptr<BuildState>& orphan_owner)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void PropagateFailure(const JobRef& job, const absl::Status& status)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void NotifyBuilds(const Job& job) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // --- progress (job_runner.cc) ---
  friend class JobContext;
  ProgressEvent MakeEvent(const Job& job, ProgressKind kind) const;
  void Emit(Job& job, const ProgressEvent& event);
  void EmitLog(Job& job, LogStream stream, std::string_view bytes);
  void Subscribe(const JobRef& job, BuildState& build) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void FlushSubscription(Job& job, const BuildState& build) ABSL_LOCKS_EXCLUDED(mu_);
  void Unsubscribe(Job& job, const BuildState& build);

  SolverOptions options_;
  Clock* clock_;

  absl::Mutex mu_;
  absl::flat_hash_map<JobKey, JobRef> jobs_ ABSL_GUARDED_BY(mu_);  // live jobs by vertex
  absl::flat_hash_map<JobKey, JobRef> keys_ ABSL_GUARDED_BY(mu_);  // live jobs by cache key
  uint64_t next_build_id_ ABSL_GUARDED_BY(mu_) = 1;

  // Last member: destroyed first, so queued tasks drain while the rest is still alive.
  base::ThreadPool pool_;
};

}  // namespace kiln::engine::solver::internal

#endif  // KILN_ENGINE_SOLVER_SCHEDULER_H_
