// OCI image manifest and image index (also Docker schema2 manifests and manifest lists, which
// share the JSON shape), with JSON parsing and canonical serialization.
#ifndef KILN_ENGINE_OCI_MANIFEST_H_
#define KILN_ENGINE_OCI_MANIFEST_H_

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/oci/descriptor.h"

namespace kiln::engine::oci {

struct Manifest {
  int schema_version = 2;
  std::string media_type;  // kMediaTypeOciManifest or kMediaTypeDockerManifest
  std::string artifact_type;
  Descriptor config;
  std::vector<Descriptor> layers;
  std::optional<Descriptor> subject;
  std::map<std::string, std::string> annotations;
  friend bool operator==(const Manifest&, const Manifest&) = default;
};

struct Index {
  int schema_version = 2;
  std::string media_type;  // kMediaTypeOciIndex, kMediaTypeDockerManifestList, or empty
  std::vector<Descriptor> manifests;
  std::map<std::string, std::string> annotations;
  friend bool operator==(const Index&, const Index&) = default;
};

// Parses a manifest. `what` names the source for error messages ("manifest sha256:..").
// InvalidArgument on malformed JSON, a wrong schemaVersion, or a missing config/layers.
absl::StatusOr<Manifest> ParseManifest(std::string_view json, std::string_view what = "manifest");
// Compact JSON, keys in a fixed order; the bytes whose digest names the manifest.
std::string SerializeManifest(const Manifest& m);

// Parses an index / manifest list. InvalidArgument like ParseManifest.
absl::StatusOr<Index> ParseIndex(std::string_view json, std::string_view what = "index");
std::string SerializeIndex(const Index& index);

// The media type a JSON document declares ("mediaType"), or empty if none / not JSON.
std::string SniffMediaType(std::string_view json);

// Picks the manifest for `want` from an index. NotFound listing the platforms present when
// none matches. Entries without a platform are skipped unless the index has only one entry;
// attestation entries (annotation vnd.docker.reference.type=attestation-manifest) always are.
absl::StatusOr<Descriptor> SelectPlatform(const Index& index, const Platform& want);

}  // namespace kiln::engine::oci

#endif  // KILN_ENGINE_OCI_MANIFEST_H_
