// Registry authentication: WWW-Authenticate challenges (RFC 7235) and the Docker/OCI token
// flow (GET with Basic credentials, or the OAuth2 POST form when an identity/refresh token
// exists).
//
// Credentials never appear in error messages produced here; token server errors show the
// server's body, which does not echo secrets.
#ifndef KILN_ENGINE_REGISTRY_AUTH_H_
#define KILN_ENGINE_REGISTRY_AUTH_H_

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "engine/registry/credentials.h"
#include "engine/registry/http.h"

namespace kiln::engine::registry {

struct Challenge {
  std::string scheme;                         // lowercased: "basic", "bearer"
  std::map<std::string, std::string> params;  // names lowercased: realm, service, scope, error
};

// Parses every challenge of a WWW-Authenticate header value. Quoted strings may hold commas
// and escaped characters. InvalidArgument on malformed input.
absl::StatusOr<std::vector<Challenge>> ParseChallenges(std::string_view header);

struct Token {
  std::string token;
  absl::Time expires;
};

// Fetches a bearer token for `scopes` from the challenge's realm: the OAuth2 POST form when
// `auth` has an identity token (falling back to GET on 400/401/404/405), else GET with Basic
// credentials (or anonymously). Expiry: expires_in (default and minimum 60 s) from now.
// The token server's answer verbatim on refusal.
absl::StatusOr<Token> FetchToken(HttpClient& http, const Challenge& challenge,
                                 const std::vector<std::string>& scopes, const AuthConfig& auth);

// "Basic base64(user:password)".
std::string BasicAuthorization(const AuthConfig& auth);

}  // namespace kiln::engine::registry

#endif  // KILN_ENGINE_REGISTRY_AUTH_H_
