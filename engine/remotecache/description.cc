#include "engine/remotecache/description.h"

#include <map>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "base/status.h"
#include "nlohmann/json.hpp"

namespace kiln::engine::remotecache {
namespace {

using nlohmann::json;

absl::Status Corrupt(std::string_view what, std::string_view why) {
  return absl::DataLossError(
      absl::StrCat("read cache description '", base::AsAbsl(what), "': ", base::AsAbsl(why)));
}

absl::StatusOr<base::Digest> DigestField(const json& j, const char* field, std::string_view what) {
  auto it = j.find(field);
  if (it == j.end() || !it->is_string())
    return Corrupt(what, absl::StrCat("no string '", field, "'"));
  auto d = base::Digest::Parse(it->get<std::string>());
  if (!d.ok()) return Corrupt(what, absl::StrCat("'", field, "': ", d.status().message()));
  return *d;
}

absl::StatusOr<CacheDescription> FromJson(const json& j, std::string_view what) {
  if (!j.is_object()) return Corrupt(what, "not a JSON object");
  if (j.value("mediaType", std::string()) != kDescriptionMediaType) {
    return Corrupt(what, absl::StrCat("mediaType is not ", base::AsAbsl(kDescriptionMediaType)));
  }
  if (!j.contains("version") || !j["version"].is_number_integer() ||
      j["version"].get<int>() != kDescriptionVersion) {
    return Corrupt(what, absl::StrCat("version is not ", kDescriptionVersion));
  }
  if (!j.contains("layers") || !j["layers"].is_array() || !j.contains("records") ||
      !j["records"].is_array()) {
    return Corrupt(what, "no 'layers' or 'records' array");
  }
  CacheDescription d;
  for (const json& l : j["layers"]) {
    if (!l.is_object()) return Corrupt(what, "a layer is not an object");
    CacheLayer layer;
    auto digest = DigestField(l, "digest", what);
    if (!digest.ok()) return digest.status();
    auto diff_id = DigestField(l, "diffID", what);
    if (!diff_id.ok()) return diff_id.status();
    layer.digest = *digest;
    layer.diff_id = *diff_id;
    if (!l.contains("size") || !l["size"].is_number_integer() || l["size"].get<int64_t>() < 0) {
      return Corrupt(what, "a layer has no valid 'size'");
    }
    layer.size = l["size"].get<int64_t>();
    if (!l.contains("mediaType") || !l["mediaType"].is_string()) {
      return Corrupt(what, "a layer has no 'mediaType'");
    }
    layer.media_type = l["mediaType"].get<std::string>();
    d.layers.push_back(std::move(layer));
  }
  for (const json& r : j["records"]) {
    if (!r.is_object()) return Corrupt(what, "a record is not an object");
    CacheEntry e;
    auto key = DigestField(r, "key", what);
    if (!key.ok()) return key.status();
    e.key = *key;
    if (!r.contains("chain") || !r["chain"].is_array())
      return Corrupt(what, "a record has no chain");
    for (const json& i : r["chain"]) {
      if (!i.is_number_unsigned() || i.get<size_t>() >= d.layers.size()) {
        return Corrupt(what, absl::StrCat("record ", e.key.str(), ": layer index out of range"));
      }
      e.chain.push_back(i.get<size_t>());
    }
    if (r.contains("created")) {
      if (!r["created"].is_number_integer()) return Corrupt(what, "'created' is not an integer");
      e.created = r["created"].get<int64_t>();
    }
    e.description = r.value("description", std::string());
    d.records.push_back(std::move(e));
  }
  return d;
}

json ToJson(const CacheDescription& d) {
  json layers = json::array();
  for (const CacheLayer& l : d.layers) {
    layers.push_back({{"digest", l.digest.str()},
                      {"diffID", l.diff_id.str()},
                      {"size", l.size},
                      {"mediaType", l.media_type}});
  }
  json records = json::array();
  for (const CacheEntry& e : d.records) {
    records.push_back({{"key", e.key.str()},
                       {"chain", e.chain},
                       {"created", e.created},
                       {"description", e.description}});
  }
  return json{{"mediaType", kDescriptionMediaType},
              {"version", kDescriptionVersion},
              {"layers", std::move(layers)},
              {"records", std::move(records)}};
}

}  // namespace

absl::Status EncodeDescription(const CacheDescription& d, std::ostream& out) {
  out << ToJson(d).dump();
  if (!out) return absl::InternalError("write cache description: stream error");
  return absl::OkStatus();
}

std::string EncodeDescription(const CacheDescription& d) { return ToJson(d).dump(); }

absl::StatusOr<CacheDescription> DecodeDescription(std::istream& in, std::string_view what) {
  json j = json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Corrupt(what, "not valid JSON");
  return FromJson(j, what);
}

absl::StatusOr<CacheDescription> DecodeDescription(std::string_view json_text,
                                                   std::string_view what) {
  json j = json::parse(json_text.begin(), json_text.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Corrupt(what, "not valid JSON");
  return FromJson(j, what);
}

CacheDescription MergeDescriptions(const CacheDescription& base, const CacheDescription& newer) {
  // key -> (description it comes from, record); newer replaces unless strictly older.
  std::map<base::Digest, std::pair<const CacheDescription*, const CacheEntry*>> pick;
  for (const CacheEntry& e : base.records) pick[e.key] = {&base, &e};
  for (const CacheEntry& e : newer.records) {
    auto it = pick.find(e.key);
    if (it == pick.end() || it->second.second->created <= e.created) pick[e.key] = {&newer, &e};
  }
  CacheDescription out;
  std::map<base::Digest, size_t> layer_index;
  for (const auto& [key, from] : pick) {
    CacheEntry e = *from.second;
    e.chain.clear();
    for (size_t i : from.second->chain) {
      const CacheLayer& l = from.first->layers[i];
      auto [it, added] = layer_index.emplace(l.digest, out.layers.size());
      if (added) out.layers.push_back(l);
      e.chain.push_back(it->second);
    }
    out.records.push_back(std::move(e));
  }
  return out;
}

}  // namespace kiln::engine::remotecache
