// libFuzzer target: the OCI and Docker documents Kiln reads from registries, archives and
// layouts: manifests, indexes (manifest lists), image configs and descriptors, the media-type
// sniffer and the platform selection. Any crash, sanitizer report or leak is a bug; errors are
// expected. A parsed document must serialize and parse again.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "engine/oci/descriptor.h"
#include "engine/oci/image_config.h"
#include "engine/oci/manifest.h"
#include "nlohmann/json.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 256 * 1024) return 0;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  using namespace kiln::engine::oci;

  (void)SniffMediaType(text);
  if (auto m = ParseManifest(text, "fuzz manifest"); m.ok()) {
    std::string again = SerializeManifest(*m);
    if (!ParseManifest(again, "reserialized manifest").ok()) std::abort();
  }
  if (auto index = ParseIndex(text, "fuzz index"); index.ok()) {
    std::string again = SerializeIndex(*index);
    if (!ParseIndex(again, "reserialized index").ok()) std::abort();
    Platform want;
    want.os = "linux";
    want.architecture = "amd64";
    (void)SelectPlatform(*index, want);
  }
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_discarded()) {
    (void)ImageConfigFromJson(j);
    (void)DescriptorFromJson(j);
    (void)PlatformFromJson(j);
  }
  if (size < 256) {
    (void)Platform::Parse(text);
  }
  return 0;
}
