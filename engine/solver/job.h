// Internal state of the scheduler: a Job is one vertex being solved (shared by every build
// that needs it), a BuildState is one Solve call. Not API.
//
// Locking: fields marked "mu" are guarded by Scheduler::mu_ (one lock for the whole graph);
// fields marked "emit_mu" by Job::emit_mu. Lock order: mu_ then emit_mu, never the reverse.
// Progress sinks run under emit_mu only (never under mu_), so a slow sink never blocks the
// scheduling of other jobs.
#ifndef KILN_ENGINE_SOLVER_JOB_H_
#define KILN_ENGINE_SOLVER_JOB_H_

#include <cstdint>
#include <deque>
#include <memory>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "base/digest.h"
#include "engine/solver/cancellation.h"
#include "engine/solver/log_tail.h"
#include "engine/solver/op.h"
#include "engine/solver/progress.h"
#include "engine/solver/result.h"
#include "engine/solver/vertex.h"

namespace kiln::engine::solver::internal {

// Identity for single-flight: the same work under the same no_cache setting.
struct JobKey {
  base::Digest digest;
  bool no_cache = false;
  friend bool operator==(const JobKey&, const JobKey&) = default;
  template <typename H>
  friend H AbslHashValue(H h, const JobKey& k) {
    return H::combine(std::move(h), k.digest, k.no_cache);
  }
};

enum class JobState {
  kWaiting,    // some input not done
  kReady,      // in the ready queues of its builds
  kQueued,     // submitted to the pool
  kRunning,    // on a worker
  kFollowing,  // its cache key equals a leader job's; waits for that job's outcome
  kDone,
  kFailed,
  kCancelled,  // dropped: no build needs it anymore
};

struct BuildState;

// How a job ended.
struct Outcome {
  absl::Status status;  // already wrapped as a step error when !ok()
  ResultRef result;
  bool cached = false;
};

struct Job {
  Job(VertexRef v, bool nc, std::shared_ptr<const BuildOptions> opts, size_t tail_lines,
      size_t tail_line_bytes)
      : vertex(std::move(v)),
        no_cache(nc),
        options(std::move(opts)),
        tail(tail_lines, tail_line_bytes) {}

  const VertexRef vertex;
  const bool no_cache;
  const std::shared_ptr<const BuildOptions> options;  // of the build that created it
  Cancellation cancel;                                // fired when dropped while running

  // --- mu ---
  JobState state = JobState::kWaiting;
  std::vector<std::shared_ptr<Job>> inputs;
  std::vector<std::weak_ptr<Job>> dependents;
  size_t pending_inputs = 0;
  std::vector<BuildState*> builds;           // builds that need it (each once)
  std::shared_ptr<BuildState> charged;       // whose parallelism slot it occupies
  std::shared_ptr<BuildState> orphan_owner;  // waits for it to stop after dropping it
  bool key_registered = false;               // owns its entry in Scheduler::keys_
  base::Digest cache_key;
  ResultRef result;
  bool cached = false;
  absl::Status status;
  std::vector<std::weak_ptr<Job>> followers;
  std::shared_ptr<Job> leader;

  // --- emit_mu ---
  // A build's sink. A build that attaches to a job which already emitted events starts
  // "pending": it first gets the `replay` earliest lifecycle events, then what was buffered
  // meanwhile, then live events (FlushSubscription), so it sees them all, in order.
  struct Subscriber {
    uint64_t build_id = 0;
    const ProgressSink* sink = nullptr;
    bool pending = false;
    size_t replay = 0;
    std::vector<ProgressEvent> buffered;
  };
  absl::Mutex emit_mu;
  std::vector<Subscriber> subscribers ABSL_GUARDED_BY(emit_mu);
  std::vector<ProgressEvent> lifecycle ABSL_GUARDED_BY(emit_mu);  // replayed to late subscribers
  LogTail tail ABSL_GUARDED_BY(emit_mu);
};

struct BuildState : std::enable_shared_from_this<BuildState> {
  uint64_t id = 0;
  std::shared_ptr<const BuildOptions> options;
  size_t limit = 0;
  ProgressSink sink;

  // --- mu ---
  bool live = true;
  size_t running = 0;
  std::deque<std::shared_ptr<Job>> ready;
  std::vector<std::shared_ptr<Job>> jobs;  // every job it holds an interest in
  absl::flat_hash_set<Job*> job_set;
  std::vector<std::shared_ptr<Job>> roots;       // per requested output
  std::vector<std::shared_ptr<Job>> subscribed;  // jobs whose events go to `sink`
  std::vector<std::shared_ptr<Job>> to_flush;    // subscriptions still pending a replay
  absl::flat_hash_set<Job*> pending_roots;
  bool finished = false;
  bool cancel_requested = false;
  absl::Status error;
  size_t orphans = 0;
};

}  // namespace kiln::engine::solver::internal

#endif  // KILN_ENGINE_SOLVER_JOB_H_
