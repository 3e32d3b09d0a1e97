// OCI content descriptor and platform, with JSON conversion.
#ifndef KILN_ENGINE_OCI_DESCRIPTOR_H_
#define KILN_ENGINE_OCI_DESCRIPTOR_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "base/digest.h"
#include "nlohmann/json_fwd.hpp"

namespace kiln::engine::oci {

struct Platform {
  std::string architecture;  // "amd64"
  std::string os;            // "linux"
  std::string variant;       // "v8" for arm64, usually empty
  std::string os_version;
  std::vector<std::string> os_features;
  friend bool operator==(const Platform&, const Platform&) = default;

  // "linux/amd64", "linux/arm64/v8".
  std::string str() const;
  // Parses "os/arch[/variant]". InvalidArgument otherwise.
  static absl::StatusOr<Platform> Parse(std::string_view text);
  // The platform Kiln builds for on this machine: linux/amd64.
  static Platform Default();
  // True if this platform satisfies `want` (os and architecture equal; variant equal when
  // `want` names one).
  bool Matches(const Platform& want) const;
};

struct Descriptor {
  std::string media_type;
  base::Digest digest;
  int64_t size = 0;
  std::vector<std::string> urls;
  std::map<std::string, std::string> annotations;
  std::optional<Platform> platform;
  friend bool operator==(const Descriptor&, const Descriptor&) = default;
};

nlohmann::json PlatformToJson(const Platform& p);
absl::StatusOr<Platform> PlatformFromJson(const nlohmann::json& j);

nlohmann::json DescriptorToJson(const Descriptor& d);
// InvalidArgument when a field is missing or has the wrong type, or the digest is malformed.
absl::StatusOr<Descriptor> DescriptorFromJson(const nlohmann::json& j);

}  // namespace kiln::engine::oci

#endif  // KILN_ENGINE_OCI_DESCRIPTOR_H_
