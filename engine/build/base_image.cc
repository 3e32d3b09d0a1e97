#include "engine/build/base_image.h"

#include <variant>

#include "base/status.h"
#include "engine/oci/manifest.h"
#include "engine/oci/media_types.h"

namespace kiln::engine {

absl::StatusOr<base::Digest> PlatformManifest(cache::ContentStore& content,
                                              const oci::Descriptor& target) {
  if (target.media_type == oci::kMediaTypeOciIndex ||
      target.media_type == oci::kMediaTypeDockerManifestList) {
    KILN_ASSIGN_OR_RETURN(std::string json, content.ReadAll(target.digest));
    KILN_ASSIGN_OR_RETURN(oci::Index index, oci::ParseIndex(json));
    KILN_ASSIGN_OR_RETURN(oci::Descriptor d, oci::SelectPlatform(index, oci::Platform::Default()));
    return d.digest;
  }
  return target.digest;
}

absl::StatusOr<std::optional<oci::Image>> BaseImageOf(cache::ContentStore& content,
                                                      const LoweredBuild& lowered) {
  graph::VertexId id = lowered.final_vertex;
  for (size_t guard = 0; guard < lowered.graph.size() + 1; ++guard) {
    const graph::Vertex& v = lowered.graph.vertex(id);
    if (const auto* s = std::get_if<graph::SourceOp>(&v.op)) {
      if (s->kind != graph::SourceOp::Kind::kImage) return std::optional<oci::Image>();
      KILN_ASSIGN_OR_RETURN(std::string mjson, content.ReadAll(s->manifest_digest));
      KILN_ASSIGN_OR_RETURN(oci::Manifest m, oci::ParseManifest(mjson));
      KILN_ASSIGN_OR_RETURN(std::string cjson, content.ReadAll(m.config.digest));
      KILN_ASSIGN_OR_RETURN(oci::Image img, oci::ParseImage(cjson));
      return std::optional<oci::Image>(std::move(img));
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
