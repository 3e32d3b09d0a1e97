#include "engine/oci/descriptor.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "base/status.h"
#include "engine/oci/json_util.h"
#include "nlohmann/json.hpp"

namespace kiln::engine::oci {

using base::AsAbsl;

std::string Platform::str() const {
  std::string s = os + "/" + architecture;
  if (!variant.empty()) s += "/" + variant;
  return s;
}

absl::StatusOr<Platform> Platform::Parse(std::string_view text) {
  std::vector<std::string> parts = absl::StrSplit(AsAbsl(text), '/');
  if (parts.size() < 2 || parts.size() > 3 || parts[0].empty() || parts[1].empty() ||
      (parts.size() == 3 && parts[2].empty())) {
    return absl::InvalidArgumentError(absl::StrCat(
        "parse platform '", AsAbsl(text), "': expected os/arch[/variant], e.g. linux/amd64"));
  }
  Platform p;
  p.os = parts[0];
  p.architecture = parts[1];
  if (parts.size() == 3) p.variant = parts[2];
  return p;
}

Platform Platform::Default() {
  Platform p;
  p.os = "linux";
  p.architecture = "amd64";
  return p;
}

bool Platform::Matches(const Platform& want) const {
  if (os != want.os || architecture != want.architecture) return false;
  return want.variant.empty() || variant == want.variant;
}

nlohmann::json PlatformToJson(const Platform& p) {
  nlohmann::json j = nlohmann::json::object();
  j["architecture"] = p.architecture;
  j["os"] = p.os;
  if (!p.os_version.empty()) j["os.version"] = p.os_version;
  if (!p.os_features.empty()) j["os.features"] = p.os_features;
  if (!p.variant.empty()) j["variant"] = p.variant;
  return j;
}

absl::StatusOr<Platform> PlatformFromJson(const nlohmann::json& j) {
  constexpr std::string_view kWhat = "platform";
  if (!j.is_object()) return absl::InvalidArgumentError("platform: must be an object");
  Platform p;
  KILN_RETURN_IF_ERROR(internal::GetString(j, "architecture", kWhat, &p.architecture, true));
  KILN_RETURN_IF_ERROR(internal::GetString(j, "os", kWhat, &p.os, true));
  KILN_RETURN_IF_ERROR(internal::GetString(j, "variant", kWhat, &p.variant));
  KILN_RETURN_IF_ERROR(internal::GetString(j, "os.version", kWhat, &p.os_version));
  KILN_RETURN_IF_ERROR(internal::GetStringList(j, "os.features", kWhat, &p.os_features));
  return p;
}

nlohmann::json DescriptorToJson(const Descriptor& d) {
  nlohmann::json j = nlohmann::json::object();
  j["mediaType"] = d.media_type;
  j["digest"] = d.digest.str();
  j["size"] = d.size;
  if (!d.urls.empty()) j["urls"] = d.urls;
  if (!d.annotations.empty()) j["annotations"] = d.annotations;
  if (d.platform) j["platform"] = PlatformToJson(*d.platform);
  return j;
}

absl::StatusOr<Descriptor> DescriptorFromJson(const nlohmann::json& j) {
  constexpr std::string_view kWhat = "descriptor";
  if (!j.is_object()) return absl::InvalidArgumentError("descriptor: must be an object");
  Descriptor d;
  std::string digest;
  KILN_RETURN_IF_ERROR(internal::GetString(j, "mediaType", kWhat, &d.media_type));
  KILN_RETURN_IF_ERROR(internal::GetString(j, "digest", kWhat, &digest, true));
  KILN_RETURN_IF_ERROR(internal::GetInt64(j, "size", kWhat, &d.size, true));
  if (d.size < 0) return absl::InvalidArgumentError("descriptor: \"size\" must not be negative");
  auto parsed = base::Digest::Parse(digest);
  if (!parsed.ok()) return base::Annotate(parsed.status(), "descriptor");
  d.digest = *parsed;
  KILN_RETURN_IF_ERROR(internal::GetStringList(j, "urls", kWhat, &d.urls));
  KILN_RETURN_IF_ERROR(internal::GetStringMap(j, "annotations", kWhat, &d.annotations));
  auto it = j.find("platform");
  if (it != j.end() && !it->is_null()) {
    KILN_ASSIGN_OR_RETURN(d.platform, PlatformFromJson(*it));
  }
  return d;
}

}  // namespace kiln::engine::oci
