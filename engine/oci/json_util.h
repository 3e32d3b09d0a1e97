// Internal helpers for reading JSON with nlohmann without letting exceptions escape.
#ifndef KILN_ENGINE_OCI_JSON_UTIL_H_
#define KILN_ENGINE_OCI_JSON_UTIL_H_

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace kiln::engine::oci::internal {

// Parses `text`; InvalidArgument "parse <what>: <cause>" on malformed JSON or a non-object
// top level.
absl::StatusOr<nlohmann::json> ParseJsonObject(std::string_view text, std::string_view what);

// Field readers: a missing key leaves *out unchanged and returns OK unless `required`;
// a present key of the wrong type is InvalidArgument "<what>: \"key\" must be <type>".
absl::Status GetString(const nlohmann::json& j, const char* key, std::string_view what,
                       std::string* out, bool required = false);
absl::Status GetInt64(const nlohmann::json& j, const char* key, std::string_view what, int64_t* out,
                      bool required = false);
absl::Status GetStringMap(const nlohmann::json& j, const char* key, std::string_view what,
                          std::map<std::string, std::string>* out);
absl::Status GetStringList(const nlohmann::json& j, const char* key, std::string_view what,
                           std::vector<std::string>* out);

}  // namespace kiln::engine::oci::internal

#endif  // KILN_ENGINE_OCI_JSON_UTIL_H_
