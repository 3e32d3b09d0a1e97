#include "engine/oci/json_util.h"

#include "absl/strings/str_cat.h"
#include "base/status.h"

namespace kiln::engine::oci::internal {

using base::AsAbsl;

absl::StatusOr<nlohmann::json> ParseJsonObject(std::string_view text, std::string_view what) {
  nlohmann::json j = nlohmann::json::parse(text.begin(), text.end(), nullptr,
                                           /*allow_exceptions=*/false);
  if (j.is_discarded()) {
    return absl::InvalidArgumentError(absl::StrCat("parse ", AsAbsl(what), ": not valid JSON"));
  }
  if (!j.is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat("parse ", AsAbsl(what), ": expected a JSON object"));
  }
  return j;
}

namespace {

absl::Status TypeError(std::string_view what, const char* key, const char* want) {
  return absl::InvalidArgumentError(absl::StrCat(AsAbsl(what), ": \"", key, "\" must be ", want));
}

}  // namespace

absl::Status GetString(const nlohmann::json& j, const char* key, std::string_view what,
                       std::string* out, bool required) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) {
    if (required) {
      return absl::InvalidArgumentError(absl::StrCat(AsAbsl(what), ": missing \"", key, "\""));
    }
    return absl::OkStatus();
  }
  if (!it->is_string()) return TypeError(what, key, "a string");
  *out = it->get<std::string>();
  return absl::OkStatus();
}

absl::Status GetInt64(const nlohmann::json& j, const char* key, std::string_view what, int64_t* out,
                      bool required) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) {
    if (required) {
      return absl::InvalidArgumentError(absl::StrCat(AsAbsl(what), ": missing \"", key, "\""));
    }
    return absl::OkStatus();
  }
  if (!it->is_number_integer()) return TypeError(what, key, "an integer");
  *out = it->get<int64_t>();
  return absl::OkStatus();
}

absl::Status GetStringMap(const nlohmann::json& j, const char* key, std::string_view what,
                          std::map<std::string, std::string>* out) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return absl::OkStatus();
  if (!it->is_object()) return TypeError(what, key, "an object of strings");
  for (const auto& [k, v] : it->items()) {
    if (!v.is_string()) return TypeError(what, key, "an object of strings");
    (*out)[k] = v.get<std::string>();
  }
  return absl::OkStatus();
}

absl::Status GetStringList(const nlohmann::json& j, const char* key, std::string_view what,
                           std::vector<std::string>* out) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return absl::OkStatus();
  if (!it->is_array()) return TypeError(what, key, "an array of strings");
  for (const auto& v : *it) {
    if (!v.is_string()) return TypeError(what, key, "an array of strings");
    out->push_back(v.get<std::string>());
  }
  return absl::OkStatus();
}

}  // namespace kiln::engine::oci::internal
