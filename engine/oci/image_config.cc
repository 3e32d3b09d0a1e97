#include "engine/oci/image_config.h"

#include <algorithm>

#include "nlohmann/json.hpp"

namespace kiln::engine::oci {

std::optional<std::string> EnvLookup(const std::vector<std::string>& env, const std::string& key) {
  for (auto it = env.rbegin(); it != env.rend(); ++it) {
    if (it->size() > key.size() && it->compare(0, key.size(), key) == 0 &&
        (*it)[key.size()] == '=') {
      return it->substr(key.size() + 1);
    }
    if (*it == key) return std::string();
  }
  return std::nullopt;
}

void EnvSet(std::vector<std::string>& env, const std::string& key, const std::string& value) {
  for (auto& kv : env) {
    if (kv.size() >= key.size() && kv.compare(0, key.size(), key) == 0 &&
        (kv.size() == key.size() || kv[key.size()] == '=')) {
      kv = key + "=" + value;
      return;
    }
  }
  env.push_back(key + "=" + value);
}

namespace {

void PutStrings(nlohmann::json& j, const char* key, const std::vector<std::string>& v) {
  if (!v.empty()) j[key] = v;
}

void PutSet(nlohmann::json& j, const char* key, const std::vector<std::string>& v) {
  if (v.empty()) return;
  nlohmann::json obj = nlohmann::json::object();
  for (const auto& s : v) obj[s] = nlohmann::json::object();
  j[key] = obj;
}

absl::Status TypeError(const char* key, const char* want) {
  return absl::InvalidArgumentError(std::string("image config: \"") + key + "\" must be " + want);
}

absl::Status GetStrings(const nlohmann::json& j, const char* key,
                        std::optional<std::vector<std::string>>* out) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return absl::OkStatus();
  if (!it->is_array()) return TypeError(key, "an array of strings");
  std::vector<std::string> v;
  for (const auto& e : *it) {
    if (!e.is_string()) return TypeError(key, "an array of strings");
    v.push_back(e.get<std::string>());
  }
  *out = std::move(v);
  return absl::OkStatus();
}

absl::Status GetString(const nlohmann::json& j, const char* key, std::string* out) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return absl::OkStatus();
  if (!it->is_string()) return TypeError(key, "a string");
  *out = it->get<std::string>();
  return absl::OkStatus();
}

absl::Status GetSetKeys(const nlohmann::json& j, const char* key, std::vector<std::string>* out) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return absl::OkStatus();
  if (!it->is_object()) return TypeError(key, "an object");
  for (auto e = it->begin(); e != it->end(); ++e) out->push_back(e.key());
  std::sort(out->begin(), out->end());
  return absl::OkStatus();
}

}  // namespace

nlohmann::json ImageConfigToJson(const ImageConfig& c) {
  nlohmann::json j = nlohmann::json::object();
  if (!c.user.empty()) j["User"] = c.user;
  PutSet(j, "ExposedPorts", c.exposed_ports);
  PutStrings(j, "Env", c.env);
  if (c.entrypoint) j["Entrypoint"] = *c.entrypoint;
  if (c.cmd) j["Cmd"] = *c.cmd;
  PutSet(j, "Volumes", c.volumes);
  if (!c.working_dir.empty()) j["WorkingDir"] = c.working_dir;
  if (!c.labels.empty()) j["Labels"] = c.labels;
  if (!c.stop_signal.empty()) j["StopSignal"] = c.stop_signal;
  if (c.healthcheck) {
    nlohmann::json h = nlohmann::json::object();
    h["Test"] = c.healthcheck->test;
    if (c.healthcheck->interval_ns) h["Interval"] = c.healthcheck->interval_ns;
    if (c.healthcheck->timeout_ns) h["Timeout"] = c.healthcheck->timeout_ns;
    if (c.healthcheck->start_period_ns) h["StartPeriod"] = c.healthcheck->start_period_ns;
    if (c.healthcheck->start_interval_ns) h["StartInterval"] = c.healthcheck->start_interval_ns;
    if (c.healthcheck->retries) h["Retries"] = c.healthcheck->retries;
    j["Healthcheck"] = h;
  }
  PutStrings(j, "Shell", c.shell);
  PutStrings(j, "OnBuild", c.on_build);
  return j;
}

absl::StatusOr<ImageConfig> ImageConfigFromJson(const nlohmann::json& j) {
  ImageConfig c;
  if (j.is_null()) return c;
  if (!j.is_object()) return absl::InvalidArgumentError("image config: \"config\" must be an object");
  absl::Status s;
  if (!(s = GetString(j, "User", &c.user)).ok()) return s;
  std::optional<std::vector<std::string>> v;
  if (!(s = GetStrings(j, "Env", &v)).ok()) return s;
  if (v) c.env = std::move(*v);
  if (!(s = GetStrings(j, "Entrypoint", &c.entrypoint)).ok()) return s;
  if (!(s = GetStrings(j, "Cmd", &c.cmd)).ok()) return s;
  if (!(s = GetString(j, "WorkingDir", &c.working_dir)).ok()) return s;
  if (auto it = j.find("Labels"); it != j.end() && !it->is_null()) {
    if (!it->is_object()) return TypeError("Labels", "an object");
    for (auto e = it->begin(); e != it->end(); ++e) {
      if (!e->is_string()) return TypeError("Labels", "an object of strings");
      c.labels[e.key()] = e->get<std::string>();
    }
  }
  if (!(s = GetSetKeys(j, "ExposedPorts", &c.exposed_ports)).ok()) return s;
  if (!(s = GetSetKeys(j, "Volumes", &c.volumes)).ok()) return s;
  if (!(s = GetString(j, "StopSignal", &c.stop_signal)).ok()) return s;
  if (auto it = j.find("Healthcheck"); it != j.end() && !it->is_null()) {
    if (!it->is_object()) return TypeError("Healthcheck", "an object");
    Healthcheck h;
    std::optional<std::vector<std::string>> test;
    if (!(s = GetStrings(*it, "Test", &test)).ok()) return s;
    if (test) h.test = std::move(*test);
    auto num = [&](const char* k) -> int64_t {
      auto f = it->find(k);
      return (f != it->end() && f->is_number_integer()) ? f->get<int64_t>() : 0;
    };
    h.interval_ns = num("Interval");
    h.timeout_ns = num("Timeout");
    h.start_period_ns = num("StartPeriod");
    h.start_interval_ns = num("StartInterval");
    h.retries = static_cast<int>(num("Retries"));
    c.healthcheck = std::move(h);
  }
  if (!(s = GetStrings(j, "Shell", &v)).ok()) return s;
  if (v) c.shell = std::move(*v);
  v.reset();
  if (!(s = GetStrings(j, "OnBuild", &v)).ok()) return s;
  if (v) c.on_build = std::move(*v);
  return c;
}

}  // namespace kiln::engine::oci
