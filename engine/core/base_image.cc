#include "engine/core/base_image.h"

#include <utility>
#include <variant>

#include "base/status.h"
#include "engine/oci/platform_image.h"

namespace kiln::engine {

absl::StatusOr<std::optional<oci::Image>> BaseImageOf(cache::ContentStore& content,
                                                      const LoweredBuild& lowered) {
  graph::VertexId id = lowered.final_vertex;
  for (size_t guard = 0; guard < lowered.graph.size() + 1; ++guard) {
    const graph::Vertex& v = lowered.graph.vertex(id);
    if (const auto* s = std::get_if<graph::SourceOp>(&v.op)) {
      if (s->kind != graph::SourceOp::Kind::kImage) return std::optional<oci::Image>();
      KILN_ASSIGN_OR_RETURN(oci::PlatformImage image,
                            oci::ReadManifestImage(content, s->manifest_digest));
      return std::optional<oci::Image>(std::move(image.config));
    }
    if (const auto* f = std::get_if<graph::FileOp>(&v.op); f != nullptr && !f->has_base) {
      return std::optional<oci::Image>();
    }
    if (v.inputs.empty()) return std::optional<oci::Image>();
    id = v.inputs[0];
  }
  return std::optional<oci::Image>();
}

}  // namespace kiln::engine
