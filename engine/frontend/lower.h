// Lowering: a parsed Dockerfile (instructions.h) becomes a content-addressed build graph
// (engine/graph) plus, for the target stage, the image config and history an exporter needs.
//
// What it does, following BuildKit's dockerfile2llb:
//   - global ARGs (before the first FROM) and the predefined platform args feed FROM;
//     per-stage ARG/ENV scoping, ENV wins over ARG, --build-arg overrides;
//   - variables are expanded in ADD COPY ENV EXPOSE FROM LABEL STOPSIGNAL USER VOLUME
//     WORKDIR ARG and RUN --mount values (never in RUN/CMD/ENTRYPOINT commands);
//   - stages are resolved by name (case-insensitive) or index, otherwise as images; with a
//     repeated name, FROM takes the latest such stage before it, --from/from=/--target the
//     last one in the file (dockerfile2llb's addState/statesByName);
//     only the stages the target reaches are lowered;
//   - base-image ONBUILD triggers run at the start of a stage that uses the image.
//
// Thread-safety: LowerDockerfile is reentrant; the resolver is called from the calling
// thread only. Errors: InvalidArgument "<file>:<line>: ..." for Dockerfile problems,
// whatever the resolver returns (annotated with file:line) for image lookups.
#ifndef KILN_ENGINE_FRONTEND_LOWER_H_
#define KILN_ENGINE_FRONTEND_LOWER_H_

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/frontend/checks.h"
#include "engine/frontend/image_resolver.h"
#include "engine/frontend/instructions.h"
#include "engine/graph/graph.h"
#include "engine/oci/image_config.h"

namespace kiln::engine {

struct LowerOptions {
  std::string filename = "Dockerfile";         // for error messages
  std::string target;                          // stage name or index; empty = last stage
  std::map<std::string, std::string> build_args;  // --build-arg K=V
  std::string target_platform = "linux/amd64";
  std::string build_platform = "linux/amd64";
  std::vector<std::string> context_excludes;   // .dockerignore patterns (as read)
  // The context directory's identity (engine::ContextIdentity): part of the local source's
  // digest, so builds from different directories never share it. Empty in tools that lower
  // without a context.
  std::string context_id;
  ImageResolver* resolver = nullptr;           // required; not owned
};

struct HistoryEntry {
  std::string created_by;
  bool empty_layer = false;  // true when the step changed only the config
};

struct LoweredBuild {
  graph::Graph graph;                 // only what the target needs
  graph::VertexId final_vertex = 0;   // the target stage's root filesystem
  std::string target_stage;           // its name ("stage-N" when unnamed)
  std::string platform;               // its platform ("linux/amd64")
  oci::ImageConfig config;            // its accumulated image config
  std::optional<std::string> author;  // MAINTAINER's name; nullopt: keep the base image's
  std::vector<HistoryEntry> history;  // base image history is not included
  // Build checks (checks.h), filtered by the build's check configuration.
  std::vector<CheckWarning> checks;
  bool checks_fail = false;  // `error=true`: a build with any check must fail (CheckViolation)
  // Other warnings ("build arg X was not consumed by any stage").
  std::vector<std::string> warnings;
};

absl::StatusOr<LoweredBuild> LowerDockerfile(const Dockerfile& df, const LowerOptions& options);

// Parse + ParseInstructions + LowerDockerfile.
absl::StatusOr<LoweredBuild> LowerDockerfileText(std::string_view content,
                                                 const LowerOptions& options);

// An ImageResolver that accepts any reference and returns an empty config; the manifest
// digest is derived from the reference text so distinct refs stay distinct. For tools and
// tests when no image store exists. Thread-safe.
class AnyImageResolver : public ImageResolver {
 public:
  absl::StatusOr<ResolvedImage> Resolve(std::string_view ref, std::string_view platform) override;
};

}  // namespace kiln::engine

#endif  // KILN_ENGINE_FRONTEND_LOWER_H_
