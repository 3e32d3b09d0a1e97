#include "engine/solver/vertex.h"

#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace kiln::engine::solver {

absl::StatusOr<std::shared_ptr<const Vertex>> Vertex::Create(
    base::Digest digest, std::shared_ptr<const Op> op,
    std::vector<std::shared_ptr<const Vertex>> inputs, VertexDisplay display) {
  if (digest.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("create vertex '", display.name, "': digest is empty"));
  }
  if (op == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("create vertex '", display.name, "': op is null"));
  }
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (inputs[i] == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("create vertex '", display.name, "': input ", i, " is null"));
    }
  }
  std::shared_ptr<Vertex> vertex(new Vertex());
  vertex->digest_ = std::move(digest);
  vertex->op_ = std::move(op);
  vertex->inputs_ = std::move(inputs);
  vertex->display_ = std::move(display);
  return std::shared_ptr<const Vertex>(std::move(vertex));
}

}  // namespace kiln::engine::solver
