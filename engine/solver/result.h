// Result: the opaque output of one vertex (a committed snapshot, a context source, ...).
//
// Results are shared, reference-counted handles (ResultRef). Whoever implements Result holds
// its resources (snapshot leases, open fds) for as long as the object lives and releases them
// in its destructor, so the last ResultRef dropped is the release. The solver keeps a build's
// intermediate results alive until that build ends, and hands the requested outputs back to
// the caller.
//
// Thread safety: implementations must allow concurrent const access from any thread, and the
// destructor may run on any thread (a worker or the thread that called Solve).
#ifndef KILN_ENGINE_SOLVER_RESULT_H_
#define KILN_ENGINE_SOLVER_RESULT_H_

#include <memory>
#include <string>

namespace kiln::engine::solver {

class Result {
 public:
  virtual ~Result() = default;
  // A stable identifier of the underlying data (e.g. a snapshot id), for logs and traces.
  virtual std::string Id() const = 0;
};

using ResultRef = std::shared_ptr<const Result>;

}  // namespace kiln::engine::solver

#endif  // KILN_ENGINE_SOLVER_RESULT_H_
