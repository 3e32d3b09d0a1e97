// Fakes for engine/solver tests: ops that sleep, block, fail and log; an in-memory cache seam;
// a fake clock. Header-only. Everything here is thread-safe.
#ifndef KILN_TESTS_FAKES_SOLVER_FAKES_H_
#define KILN_TESTS_FAKES_SOLVER_FAKES_H_

#include <algorithm>
#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "cache/cache_key.h"
#include "engine/solver/cache_seam.h"
#include "engine/solver/clock.h"
#include "engine/solver/op.h"
#include "engine/solver/result.h"
#include "engine/solver/step_error.h"
#include "engine/solver/vertex.h"

namespace kiln::engine::solver::testing {

// The fakes' vertex digest: their definition and their inputs' digests (the engine uses the
// build graph's digest instead).
inline base::Digest FakeVertexDigest(std::string_view definition,
                                     const std::vector<VertexRef>& inputs) {
  cache::CacheKeyBuilder b("fake.vertex");
  b.Bytes("def", definition);
  for (const VertexRef& input : inputs) b.Input(input == nullptr ? base::Digest() : input->digest());
  return b.Finish();
}

// The fakes' cache-key recipe, built through the one recipe builder (cache/cache_key.h).
inline base::Digest FakeCacheKey(std::string_view definition,
                                 const std::vector<InputRef>& inputs = {}) {
  cache::CacheKeyBuilder b("fake");
  b.Bytes("def", definition);
  for (const InputRef& input : inputs) b.Input(input.cache_key);
  return b.Finish();
}

// A one-shot event others can wait on (with a timeout, so a broken solver fails, not hangs).
class Latch {
 public:
  void Open() {
    absl::MutexLock lock(&mu_);
    open_ = true;
  }
  bool is_open() const {
    absl::MutexLock lock(&mu_);
    return open_;
  }
  // True if opened within `timeout`.
  bool Wait(absl::Duration timeout = absl::Seconds(20)) const {
    absl::MutexLock lock(&mu_);
    return mu_.AwaitWithTimeout(absl::Condition(&open_), timeout);
  }

 private:
  mutable absl::Mutex mu_;
  bool open_ ABSL_GUARDED_BY(mu_) = false;
};

// Counts live FakeResults, so tests can check that the solver released them.
struct ResultCounter {
  std::atomic<int> live{0};
  std::atomic<int> created{0};
};

class FakeResult final : public Result {
 public:
  FakeResult(std::string id, std::shared_ptr<ResultCounter> counter)
      : id_(std::move(id)), counter_(std::move(counter)) {
    if (counter_) {
      counter_->live.fetch_add(1);
      counter_->created.fetch_add(1);
    }
  }
  ~FakeResult() override {
    if (counter_) counter_->live.fetch_sub(1);
  }
  std::string Id() const override { return id_; }

 private:
  std::string id_;
  std::shared_ptr<ResultCounter> counter_;
};

// Shared bookkeeping of every FakeOp in a test.
struct FakeWorld {
  std::shared_ptr<ResultCounter> results = std::make_shared<ResultCounter>();
  std::atomic<int> running{0};
  std::atomic<int> max_running{0};
  std::atomic<int> total_execs{0};
};

// What a FakeOp does. Exec: marks `started`, waits for `wait_for` (if set), logs `log_lines`,
// sleeps `sleep` (interruptible by cancel), then fails or returns a FakeResult whose Id is
// `content` if set, else "<definition>(<input ids>)".
struct FakeOpSpec {
  std::string definition;
  absl::Duration sleep = absl::ZeroDuration();
  bool block_until_cancelled = false;
  std::shared_ptr<Latch> wait_for;  // blocks until opened (or cancelled)
  std::shared_ptr<Latch> started;   // opened when Exec starts
  std::vector<std::string> log_lines;
  std::optional<int> exit_code;  // fail with ProcessExitError
  absl::Status fail;             // fail with this status (if not ok)
  std::optional<std::string> content;
  std::optional<std::string> key;       // cache key = FakeCacheKey(*key)
  bool key_from_input_content = false;  // key covers inputs' result ids, not their keys
};

class FakeOp final : public Op {
 public:
  FakeOp(FakeOpSpec spec, FakeWorld* world) : spec_(std::move(spec)), world_(world) {}

  absl::StatusOr<base::Digest> CacheKey(ExecContext&,
                                        const std::vector<InputRef>& inputs) const override {
    key_calls.fetch_add(1);
    if (spec_.key.has_value()) return FakeCacheKey(*spec_.key);
    if (spec_.key_from_input_content) {
      std::string text = spec_.definition;
      for (const InputRef& input : inputs) absl::StrAppend(&text, "|", input.result->Id());
      return FakeCacheKey(text);
    }
    return FakeCacheKey(spec_.definition, inputs);
  }

  absl::StatusOr<ResultRef> Exec(ExecContext& ctx,
                                 const std::vector<InputRef>& inputs) const override {
    execs.fetch_add(1);
    world_->total_execs.fetch_add(1);
    int now = world_->running.fetch_add(1) + 1;
    int seen = world_->max_running.load();
    while (now > seen && !world_->max_running.compare_exchange_weak(seen, now)) {
    }
    absl::StatusOr<ResultRef> result = Work(ctx, inputs);
    world_->running.fetch_sub(1);
    if (ctx.cancel().cancelled()) saw_cancel.store(true);
    return result;
  }

  mutable std::atomic<int> execs{0};
  mutable std::atomic<int> key_calls{0};
  mutable std::atomic<bool> saw_cancel{false};

 private:
  absl::StatusOr<ResultRef> Work(ExecContext& ctx, const std::vector<InputRef>& inputs) const {
    if (spec_.started) spec_.started->Open();
    if (spec_.wait_for) {
      while (!spec_.wait_for->Wait(absl::Milliseconds(5))) {
        if (ctx.cancel().cancelled()) return absl::CancelledError("fake op cancelled");
      }
    }
    for (const std::string& line : spec_.log_lines) {
      ctx.Log(LogStream::kStdout, line + "\n");
    }
    ctx.Progress(1, 2);
    if (spec_.block_until_cancelled) {
      if (!ctx.cancel().WaitFor(absl::Seconds(30))) {
        return absl::DeadlineExceededError("fake op was never cancelled");
      }
      return absl::CancelledError("fake op cancelled");
    }
    if (spec_.sleep > absl::ZeroDuration() && ctx.cancel().WaitFor(spec_.sleep)) {
      return absl::CancelledError("fake op cancelled");
    }
    if (spec_.exit_code.has_value()) return ProcessExitError(spec_.definition, *spec_.exit_code);
    if (!spec_.fail.ok()) return spec_.fail;
    std::string id = spec_.content.value_or("");
    if (!spec_.content.has_value()) {
      std::vector<std::string> ids;
      for (const InputRef& input : inputs) ids.push_back(input.result->Id());
      id = absl::StrCat(spec_.definition, "(", absl::StrJoin(ids, ","), ")");
    }
    return std::make_shared<FakeResult>(id, world_->results);
  }

  FakeOpSpec spec_;
  FakeWorld* world_;
};

// Builds vertices over FakeOps and keeps the ops reachable for assertions.
class FakeGraph {
 public:
  VertexRef Add(FakeOpSpec spec, std::vector<VertexRef> inputs = {}) {
    std::string name = spec.definition;
    auto op = std::make_shared<FakeOp>(std::move(spec), &world);
    base::Digest digest = FakeVertexDigest(name, inputs);
    auto vertex = Vertex::Create(std::move(digest), op, std::move(inputs), VertexDisplay{name, {}});
    ops[name] = op;
    return vertex.ok() ? *vertex : nullptr;
  }
  VertexRef Add(const std::string& definition, std::vector<VertexRef> inputs = {}) {
    FakeOpSpec spec;
    spec.definition = definition;
    return Add(std::move(spec), std::move(inputs));
  }
  FakeOp& op(const std::string& name) { return *ops.at(name); }
  int execs(const std::string& name) { return ops.at(name)->execs.load(); }

  FakeWorld world;
  absl::flat_hash_map<std::string, std::shared_ptr<FakeOp>> ops;
};

// An in-memory CacheSeam. Vanish(key) simulates a record whose data is gone (a miss).
class InMemoryCache final : public CacheSeam {
 public:
  absl::StatusOr<ResultRef> Lookup(const base::Digest& key, const Vertex&) override {
    absl::MutexLock lock(&mu_);
    ++lookups_;
    auto it = entries_.find(key);
    if (it == entries_.end() || vanished_.contains(key)) return ResultRef();
    ++hits_;
    return it->second;
  }
  absl::Status Save(const base::Digest& key, const ResultRef& result, const Vertex&) override {
    absl::MutexLock lock(&mu_);
    ++saves_;
    entries_[key] = result;
    vanished_.erase(key);
    return absl::OkStatus();
  }
  void Vanish(const base::Digest& key) {
    absl::MutexLock lock(&mu_);
    vanished_[key] = true;
  }
  void Clear() {
    absl::MutexLock lock(&mu_);
    entries_.clear();
  }
  int lookups() const {
    absl::MutexLock lock(&mu_);
    return lookups_;
  }
  int hits() const {
    absl::MutexLock lock(&mu_);
    return hits_;
  }
  int saves() const {
    absl::MutexLock lock(&mu_);
    return saves_;
  }

 private:
  mutable absl::Mutex mu_;
  absl::flat_hash_map<base::Digest, ResultRef> entries_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<base::Digest, bool> vanished_ ABSL_GUARDED_BY(mu_);
  int lookups_ ABSL_GUARDED_BY(mu_) = 0;
  int hits_ ABSL_GUARDED_BY(mu_) = 0;
  int saves_ ABSL_GUARDED_BY(mu_) = 0;
};

// A clock that advances by `step` on every reading, so timestamps are strictly increasing.
class FakeClock final : public Clock {
 public:
  explicit FakeClock(absl::Duration step = absl::Microseconds(1)) : step_(step) {}
  absl::Time Now() const override {
    int64_t n = ticks_.fetch_add(1);
    return absl::FromUnixSeconds(1700000000) + step_ * n;
  }
  int64_t readings() const { return ticks_.load(); }

 private:
  absl::Duration step_;
  mutable std::atomic<int64_t> ticks_{0};
};

}  // namespace kiln::engine::solver::testing

#endif  // KILN_TESTS_FAKES_SOLVER_FAKES_H_
