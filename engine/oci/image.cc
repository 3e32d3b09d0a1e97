#include "engine/oci/image.h"

#include "absl/strings/str_cat.h"
#include "base/status.h"
#include "engine/oci/json_util.h"
#include "nlohmann/json.hpp"

namespace kiln::engine::oci {

using base::AsAbsl;

Platform Image::platform() const {
  Platform p;
  p.architecture = architecture;
  p.os = os;
  p.variant = variant;
  p.os_version = os_version;
  return p;
}

namespace {

absl::Status ParseRootfs(const nlohmann::json& j, std::string_view what, Image* image) {
  auto it = j.find("rootfs");
  if (it == j.end() || !it->is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(AsAbsl(what), ": missing \"rootfs\" object"));
  }
  std::string type;
  KILN_RETURN_IF_ERROR(internal::GetString(*it, "type", what, &type, true));
  if (type != "layers") {
    return absl::InvalidArgumentError(
        absl::StrCat(AsAbsl(what), ": rootfs.type '", type, "' is not \"layers\""));
  }
  std::vector<std::string> ids;
  KILN_RETURN_IF_ERROR(internal::GetStringList(*it, "diff_ids", what, &ids));
  for (const auto& id : ids) {
    auto d = base::Digest::Parse(id);
    if (!d.ok()) return base::Annotate(d.status(), absl::StrCat(AsAbsl(what), ": rootfs.diff_ids"));
    image->diff_ids.push_back(*d);
  }
  return absl::OkStatus();
}

absl::Status ParseHistory(const nlohmann::json& j, std::string_view what, Image* image) {
  auto it = j.find("history");
  if (it == j.end() || it->is_null()) return absl::OkStatus();
  if (!it->is_array()) {
    return absl::InvalidArgumentError(absl::StrCat(AsAbsl(what), ": \"history\" must be an array"));
  }
  for (const auto& e : *it) {
    if (!e.is_object()) {
      return absl::InvalidArgumentError(
          absl::StrCat(AsAbsl(what), ": history entries must be objects"));
    }
    History h;
    KILN_RETURN_IF_ERROR(internal::GetString(e, "created", what, &h.created));
    KILN_RETURN_IF_ERROR(internal::GetString(e, "created_by", what, &h.created_by));
    KILN_RETURN_IF_ERROR(internal::GetString(e, "author", what, &h.author));
    KILN_RETURN_IF_ERROR(internal::GetString(e, "comment", what, &h.comment));
    auto el = e.find("empty_layer");
    if (el != e.end() && !el->is_null()) {
      if (!el->is_boolean()) {
        return absl::InvalidArgumentError(
            absl::StrCat(AsAbsl(what), ": history \"empty_layer\" must be a boolean"));
      }
      h.empty_layer = el->get<bool>();
    }
    image->history.push_back(std::move(h));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<Image> ParseImage(std::string_view json, std::string_view what) {
  KILN_ASSIGN_OR_RETURN(nlohmann::json j, internal::ParseJsonObject(json, what));
  Image image;
  image.architecture.clear();
  image.os.clear();
  KILN_RETURN_IF_ERROR(internal::GetString(j, "architecture", what, &image.architecture));
  KILN_RETURN_IF_ERROR(internal::GetString(j, "os", what, &image.os));
  KILN_RETURN_IF_ERROR(internal::GetString(j, "variant", what, &image.variant));
  KILN_RETURN_IF_ERROR(internal::GetString(j, "os.version", what, &image.os_version));
  KILN_RETURN_IF_ERROR(internal::GetString(j, "created", what, &image.created));
  KILN_RETURN_IF_ERROR(internal::GetString(j, "author", what, &image.author));
  auto config = j.find("config");
  if (config != j.end() && !config->is_null()) {
    auto c = ImageConfigFromJson(*config);
    if (!c.ok()) return base::Annotate(c.status(), what);
    image.config = *std::move(c);
  }
  KILN_RETURN_IF_ERROR(ParseRootfs(j, what, &image));
  KILN_RETURN_IF_ERROR(ParseHistory(j, what, &image));
  return image;
}

std::string SerializeImage(const Image& image) {
  nlohmann::json j = nlohmann::json::object();
  j["architecture"] = image.architecture;
  j["os"] = image.os;
  if (!image.variant.empty()) j["variant"] = image.variant;
  if (!image.os_version.empty()) j["os.version"] = image.os_version;
  if (!image.created.empty()) j["created"] = image.created;
  if (!image.author.empty()) j["author"] = image.author;
  j["config"] = ImageConfigToJson(image.config);
  nlohmann::json ids = nlohmann::json::array();
  for (const auto& d : image.diff_ids) ids.push_back(d.str());
  j["rootfs"] = {{"type", "layers"}, {"diff_ids", ids}};
  if (!image.history.empty()) {
    nlohmann::json hist = nlohmann::json::array();
    for (const auto& h : image.history) {
      nlohmann::json e = nlohmann::json::object();
      if (!h.created.empty()) e["created"] = h.created;
      if (!h.created_by.empty()) e["created_by"] = h.created_by;
      if (!h.author.empty()) e["author"] = h.author;
      if (!h.comment.empty()) e["comment"] = h.comment;
      if (h.empty_layer) e["empty_layer"] = true;
      hist.push_back(std::move(e));
    }
    j["history"] = std::move(hist);
  }
  return j.dump();
}

}  // namespace kiln::engine::oci
