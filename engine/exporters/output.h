// Output: one typed --output, parsed once from the wire's string map (ExportSpec) by
// ParseOutput. kilnd parses every output of a request before any step runs, so a bad output
// fails the Solve at once; the engine and the exporters only see the typed form.
//
// Adding an exporter is one struct in the variant, one case in ParseOutput and one in
// ToExportSpec (and its export in ExportImage).
#ifndef KILN_ENGINE_EXPORTERS_OUTPUT_H_
#define KILN_ENGINE_EXPORTERS_OUTPUT_H_

#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "absl/status/statusor.h"

namespace kiln::engine {

// The wire form of one --output: type plus string attributes, as buildctl sends it.
// type: "image" (name=REF, push=true|false), "registry" (name=REF: image with push=true), "oci"
// (dest=PATH, name=REF, tar=true|false), "docker" (dest=PATH, name=REF), "local" (dest=DIR).
// image, registry, oci and docker also take compression=gzip|zstd|uncompressed.
struct ExportSpec {
  std::string type;
  std::map<std::string, std::string> attrs;
};

// compression= of an image output; nullopt when not given.
enum class OutputCompression { kGzip, kZstd, kUncompressed };

// type=image: the local image store, under each name; with push (push=true, or type=registry,
// BuildKit's alias for it) each name is also pushed to its registry after it is stored.
struct ImageOutput {
  std::vector<std::string> names;  // at least one; each a valid image reference
  std::optional<OutputCompression> compression;
  bool push = false;
};

// type=oci (tar=true, the default): an OCI image archive written to `dest`.
struct OciArchiveOutput {
  std::string dest;  // absolute
  std::string name;  // optional ref name annotation
  std::optional<OutputCompression> compression;
};

// type=oci,tar=false: an OCI image layout directory at `dest`.
struct OciLayoutOutput {
  std::string dest;  // absolute
  std::string name;
  std::optional<OutputCompression> compression;
};

// type=docker: a `docker load` archive written to `dest`.
struct DockerArchiveOutput {
  std::string dest;  // absolute
  std::string name;  // required: docker load tags the image with it
  std::optional<OutputCompression> compression;
};

// type=local: the final filesystem copied into the directory `dest`.
struct LocalOutput {
  std::string dest;  // absolute
};

using Output =
    std::variant<ImageOutput, OciArchiveOutput, OciLayoutOutput, DockerArchiveOutput, LocalOutput>;

// The one parser. InvalidArgument "--output type=T: what was wrong; what was expected" for an
// unknown type or key, a missing name/dest, a relative dest, a bad tar= or compression=.
absl::StatusOr<Output> ParseOutput(const ExportSpec& spec);

// The wire form of `output`; ParseOutput(ToExportSpec(o)) gives `o` back.
ExportSpec ToExportSpec(const Output& output);

// The output's compression= (nullopt for none given and for type=local).
std::optional<OutputCompression> CompressionOf(const Output& output);

// The path the output writes (dest=), or "" for type=image.
std::string DestOf(const Output& output);

// The type= of `output`: image, oci, docker or local.
const char* OutputType(const Output& output);

// The compression of the layers a build with `outputs` makes: the first output's explicit
// compression=; else gzip when an image leaves the machine (oci, docker); else nullopt (the
// local store reuses any layer and makes new ones uncompressed).
std::optional<OutputCompression> LayerCompressionFor(const std::vector<Output>& outputs);

}  // namespace kiln::engine

#endif  // KILN_ENGINE_EXPORTERS_OUTPUT_H_
