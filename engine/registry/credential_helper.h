// Internal: running Docker credential helpers (docker-credential-<name> from PATH).
// Protocol (docker-credential-helpers): argv[1] is get|store|erase; `get` and `erase` read the
// server URL on stdin, `store` reads {"ServerURL","Username","Secret"}; `get` prints that JSON;
// failures exit non-zero with the message on stdout.
#ifndef KILN_ENGINE_REGISTRY_CREDENTIAL_HELPER_H_
#define KILN_ENGINE_REGISTRY_CREDENTIAL_HELPER_H_

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace kiln::engine::registry::internal {

// Runs `docker-credential-<helper> <verb>` with `input` on stdin; returns its stdout.
// NotFound when the helper says "credentials not found"; Unavailable with the helper's message
// otherwise (the message never includes `input`).
absl::StatusOr<std::string> RunCredentialHelper(std::string_view helper, std::string_view verb,
                                                std::string_view input);

}  // namespace kiln::engine::registry::internal

#endif  // KILN_ENGINE_REGISTRY_CREDENTIAL_HELPER_H_
