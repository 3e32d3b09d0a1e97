// Turning a registry's error response into a Status the user can act on: the HTTP status and
// the registry's body verbatim (its JSON {"errors":[{"code","message","detail"}]} or any
// text), never a bare status code.
#ifndef KILN_ENGINE_REGISTRY_ERRORS_H_
#define KILN_ENGINE_REGISTRY_ERRORS_H_

#include <string_view>

#include "absl/status/status.h"
#include "engine/registry/http.h"

namespace kiln::engine::registry {

// "<what>: HTTP <status> <reason>: <body>". Codes: 401 Unauthenticated, 403 PermissionDenied,
// 404 NotFound, 429 ResourceExhausted, 5xx Unavailable, other 4xx FailedPrecondition.
absl::Status HttpError(const HttpResponse& response, std::string_view what);

}  // namespace kiln::engine::registry

#endif  // KILN_ENGINE_REGISTRY_ERRORS_H_
