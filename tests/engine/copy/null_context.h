// An ExecContext for calling one op directly in tests: never cancelled, drops logs/progress.
#ifndef KILN_TESTS_ENGINE_COPY_NULL_CONTEXT_H_
#define KILN_TESTS_ENGINE_COPY_NULL_CONTEXT_H_

#include <cstdint>
#include <string_view>

#include "engine/solver/cancellation.h"
#include "engine/solver/op.h"
#include "engine/solver/vertex.h"

namespace kiln::engine {

class NullContext final : public solver::ExecContext {
 public:
  explicit NullContext(const solver::Vertex& v) : v_(v) {}
  const solver::Cancellation& cancel() const override { return cancel_; }
  void Log(solver::LogStream, std::string_view) override {}
  void Progress(int64_t, int64_t) override {}
  const solver::BuildOptions& options() const override { return options_; }
  const solver::Vertex& vertex() const override { return v_; }

 private:
  const solver::Vertex& v_;
  solver::Cancellation cancel_;
  solver::BuildOptions options_;
};

}  // namespace kiln::engine

#endif  // KILN_TESTS_ENGINE_COPY_NULL_CONTEXT_H_
