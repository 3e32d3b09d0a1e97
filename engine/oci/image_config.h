// The runtime part of an OCI image config ("config" in the image config JSON), plus the
// Docker extensions Kiln keeps (Healthcheck, Shell, OnBuild), and JSON conversion.
#ifndef KILN_ENGINE_OCI_IMAGE_CONFIG_H_
#define KILN_ENGINE_OCI_IMAGE_CONFIG_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json_fwd.hpp"

namespace kiln::engine::oci {

struct Healthcheck {
  std::vector<std::string> test;  // ["NONE"] disables; ["CMD", ...] / ["CMD-SHELL", "..."]
  int64_t interval_ns = 0;
  int64_t timeout_ns = 0;
  int64_t start_period_ns = 0;
  int64_t start_interval_ns = 0;
  int retries = 0;
  friend bool operator==(const Healthcheck&, const Healthcheck&) = default;
};

struct ImageConfig {
  std::string user;
  std::vector<std::string> env;  // "K=V", in order
  std::optional<std::vector<std::string>> entrypoint;  // nullopt: unset; empty: explicitly []
  std::optional<std::vector<std::string>> cmd;
  std::string working_dir;
  std::map<std::string, std::string> labels;
  std::vector<std::string> exposed_ports;  // "8080/tcp", sorted unique
  std::vector<std::string> volumes;        // sorted unique
  std::string stop_signal;
  std::optional<Healthcheck> healthcheck;
  std::vector<std::string> shell;  // empty: default ["/bin/sh", "-c"]
  std::vector<std::string> on_build;
  friend bool operator==(const ImageConfig&, const ImageConfig&) = default;
};

// Value of `key` in a "K=V" env list, or nullopt.
std::optional<std::string> EnvLookup(const std::vector<std::string>& env, const std::string& key);
// Sets or replaces `key` in a "K=V" env list, keeping its position.
void EnvSet(std::vector<std::string>& env, const std::string& key, const std::string& value);

// To/from the "config" object of the OCI image config JSON (keys "User", "Env", ...).
nlohmann::json ImageConfigToJson(const ImageConfig& c);
absl::StatusOr<ImageConfig> ImageConfigFromJson(const nlohmann::json& j);

}  // namespace kiln::engine::oci

#endif  // KILN_ENGINE_OCI_IMAGE_CONFIG_H_
