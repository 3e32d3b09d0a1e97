#include "engine/oci/manifest.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/status.h"
#include "engine/oci/json_util.h"
#include "engine/oci/media_types.h"
#include "nlohmann/json.hpp"

namespace kiln::engine::oci {

using base::AsAbsl;

namespace {

absl::Status CheckSchema(const nlohmann::json& j, std::string_view what, int* version) {
  int64_t v = 0;
  KILN_RETURN_IF_ERROR(internal::GetInt64(j, "schemaVersion", what, &v, true));
  if (v != 2) {
    return absl::InvalidArgumentError(
        absl::StrCat(AsAbsl(what), ": schemaVersion ", v, " is not supported, expected 2"));
  }
  *version = static_cast<int>(v);
  return absl::OkStatus();
}

absl::StatusOr<Descriptor> ChildDescriptor(const nlohmann::json& j, std::string_view what,
                                           std::string_view field) {
  auto d = DescriptorFromJson(j);
  if (!d.ok()) return base::Annotate(d.status(), absl::StrCat(AsAbsl(what), ": ", AsAbsl(field)));
  return d;
}

absl::StatusOr<std::vector<Descriptor>> DescriptorList(const nlohmann::json& j, const char* key,
                                                       std::string_view what) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_array()) {
    return absl::InvalidArgumentError(
        absl::StrCat(AsAbsl(what), ": \"", key, "\" must be an array of descriptors"));
  }
  std::vector<Descriptor> out;
  for (size_t i = 0; i < it->size(); ++i) {
    KILN_ASSIGN_OR_RETURN(Descriptor d,
                          ChildDescriptor((*it)[i], what, absl::StrCat(key, "[", i, "]")));
    out.push_back(std::move(d));
  }
  return out;
}

}  // namespace

absl::StatusOr<Manifest> ParseManifest(std::string_view json, std::string_view what) {
  KILN_ASSIGN_OR_RETURN(nlohmann::json j, internal::ParseJsonObject(json, what));
  Manifest m;
  KILN_RETURN_IF_ERROR(CheckSchema(j, what, &m.schema_version));
  KILN_RETURN_IF_ERROR(internal::GetString(j, "mediaType", what, &m.media_type));
  if (!m.media_type.empty() && !IsManifestMediaType(m.media_type)) {
    return absl::InvalidArgumentError(
        absl::StrCat(AsAbsl(what), ": mediaType '", m.media_type, "' is not an image manifest"));
  }
  KILN_RETURN_IF_ERROR(internal::GetString(j, "artifactType", what, &m.artifact_type));
  auto config = j.find("config");
  if (config == j.end()) {
    return absl::InvalidArgumentError(absl::StrCat(AsAbsl(what), ": missing \"config\""));
  }
  KILN_ASSIGN_OR_RETURN(m.config, ChildDescriptor(*config, what, "config"));
  KILN_ASSIGN_OR_RETURN(m.layers, DescriptorList(j, "layers", what));
  auto subject = j.find("subject");
  if (subject != j.end() && !subject->is_null()) {
    KILN_ASSIGN_OR_RETURN(m.subject, ChildDescriptor(*subject, what, "subject"));
  }
  KILN_RETURN_IF_ERROR(internal::GetStringMap(j, "annotations", what, &m.annotations));
  return m;
}

std::string SerializeManifest(const Manifest& m) {
  nlohmann::json j = nlohmann::json::object();
  j["schemaVersion"] = m.schema_version;
  if (!m.media_type.empty()) j["mediaType"] = m.media_type;
  if (!m.artifact_type.empty()) j["artifactType"] = m.artifact_type;
  j["config"] = DescriptorToJson(m.config);
  j["layers"] = nlohmann::json::array();
  for (const auto& l : m.layers) j["layers"].push_back(DescriptorToJson(l));
  if (m.subject) j["subject"] = DescriptorToJson(*m.subject);
  if (!m.annotations.empty()) j["annotations"] = m.annotations;
  return j.dump();
}

absl::StatusOr<Index> ParseIndex(std::string_view json, std::string_view what) {
  KILN_ASSIGN_OR_RETURN(nlohmann::json j, internal::ParseJsonObject(json, what));
  Index index;
  KILN_RETURN_IF_ERROR(CheckSchema(j, what, &index.schema_version));
  KILN_RETURN_IF_ERROR(internal::GetString(j, "mediaType", what, &index.media_type));
  if (!index.media_type.empty() && !IsIndexMediaType(index.media_type)) {
    return absl::InvalidArgumentError(
        absl::StrCat(AsAbsl(what), ": mediaType '", index.media_type, "' is not an image index"));
  }
  KILN_ASSIGN_OR_RETURN(index.manifests, DescriptorList(j, "manifests", what));
  KILN_RETURN_IF_ERROR(internal::GetStringMap(j, "annotations", what, &index.annotations));
  return index;
}

std::string SerializeIndex(const Index& index) {
  nlohmann::json j = nlohmann::json::object();
  j["schemaVersion"] = index.schema_version;
  if (!index.media_type.empty()) j["mediaType"] = index.media_type;
  j["manifests"] = nlohmann::json::array();
  for (const auto& d : index.manifests) j["manifests"].push_back(DescriptorToJson(d));
  if (!index.annotations.empty()) j["annotations"] = index.annotations;
  return j.dump();
}

std::string SniffMediaType(std::string_view json) {
  auto j = internal::ParseJsonObject(json, "document");
  if (!j.ok()) return "";
  std::string mt;
  if (!internal::GetString(*j, "mediaType", "document", &mt).ok()) return "";
  if (mt.empty()) {
    // Docker/OCI documents may omit mediaType: infer from the shape.
    if (j->contains("manifests")) return std::string(kMediaTypeOciIndex);
    if (j->contains("config") && j->contains("layers")) return std::string(kMediaTypeOciManifest);
  }
  return mt;
}

absl::StatusOr<Descriptor> SelectPlatform(const Index& index, const Platform& want) {
  std::vector<std::string> present;
  for (const auto& d : index.manifests) {
    if (!IsManifestMediaType(d.media_type) && !d.media_type.empty()) continue;
    // BuildKit's provenance/SBOM entries: unknown/unknown platform, never an image to run.
    if (auto it = d.annotations.find("vnd.docker.reference.type");
        it != d.annotations.end() && it->second == "attestation-manifest") {
      continue;
    }
    if (d.platform) {
      if (d.platform->Matches(want)) return d;
      present.push_back(d.platform->str());
    } else if (index.manifests.size() == 1) {
      return d;
    } else {
      present.push_back("(no platform)");
    }
  }
  return absl::NotFoundError(absl::StrCat(
      "select platform ", want.str(), ": the index has no manifest for it; platforms present: ",
      present.empty() ? std::string("none") : absl::StrJoin(present, ", ")));
}

}  // namespace kiln::engine::oci
