#include "engine/solver/vertex.h"

#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace kiln::engine::solver {

absl::StatusOr<std::shared_ptr<const Vertex>> Vertex::Create(
    std::shared_ptr<const Op> op, std::vector<std::shared_ptr<const Vertex>> inputs,
    VertexDisplay display) {
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
  // Recipe v1: length-prefixed fields, so no two different (definition, inputs) pairs share
  // a byte stream.
  base::Sha256 hasher;
  std::string definition = op->Definition();
  hasher.Update("kiln.vertex.v1\n");
  hasher.Update(absl::StrCat("def ", definition.size(), "\n"));
  hasher.Update(definition);
  hasher.Update(absl::StrCat("\ninputs ", inputs.size(), "\n"));
  for (const auto& input : inputs) hasher.Update(absl::StrCat(input->digest().str(), "\n"));

  std::shared_ptr<Vertex> vertex(new Vertex());
  vertex->digest_ = hasher.Finish();
  vertex->op_ = std::move(op);
  vertex->inputs_ = std::move(inputs);
  vertex->display_ = std::move(display);
  return std::shared_ptr<const Vertex>(std::move(vertex));
}

}  // namespace kiln::engine::solver
