// libFuzzer target: the registry client's WWW-Authenticate parser (a header any server, or a
// proxy in front of it, controls). Any crash, sanitizer report or leak is a bug; errors are
// expected.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "engine/registry/auth.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 16 * 1024) return 0;
  std::string_view header(reinterpret_cast<const char*>(data), size);
  (void)kiln::engine::registry::ParseChallenges(header);
  return 0;
}
