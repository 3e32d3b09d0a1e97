// Registry credentials as Docker and Podman keep them, read and written on the CLIENT side
// (kilnctl); kilnd only ever receives the credentials of the registries a request needs.
//
// Read, first match wins:
//   1. $REGISTRY_AUTH_FILE (containers-auth.json format) when set;
//   2. Docker's config.json in $DOCKER_CONFIG, else ~/.docker;
//   3. Podman's ${XDG_RUNTIME_DIR}/containers/auth.json.
// In each file: credHelpers[host], then `auths` (keys may be "host", "https://host",
// "https://host/v1/", or a namespace "host/org/repo", the longest match first; Docker Hub is
// "https://index.docker.io/v1/"), then credsStore. Helpers run `docker-credential-<name> get`
// from PATH; Username "<token>" means Secret is an identity (refresh) token.
// Written (login/logout): Docker's config.json, through the configured helper when there is
// one.
//
// Credentials never appear in error messages from here.
// Not thread-safe with respect to concurrent logins (last writer wins, the write is atomic).
#ifndef KILN_ENGINE_REGISTRY_CREDENTIALS_H_
#define KILN_ENGINE_REGISTRY_CREDENTIALS_H_

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace kiln::engine::registry {

// What a client knows about one registry. All empty: anonymous.
struct AuthConfig {
  std::string username;
  std::string password;
  std::string identity_token;  // an OAuth2 refresh token (Docker's "identitytoken")
  bool empty() const { return username.empty() && password.empty() && identity_token.empty(); }
};

// Where credentials live; FromEnvironment reads $REGISTRY_AUTH_FILE, $DOCKER_CONFIG, $HOME,
// $XDG_RUNTIME_DIR.
struct CredentialFiles {
  std::string auth_file;      // REGISTRY_AUTH_FILE, may be empty
  std::string docker_config;  // the config.json path
  std::string podman_auth;    // ${XDG_RUNTIME_DIR}/containers/auth.json, may be empty
  static CredentialFiles FromEnvironment();
};

// Credentials for `domain` ("docker.io", "127.0.0.1:5000") and optionally the repository
// path (for namespace keys). An empty AuthConfig when none are configured. InvalidArgument
// "file: ..." for a malformed file; the helper's message when a helper fails (other than
// "credentials not found").
absl::StatusOr<AuthConfig> LookupCredentials(const CredentialFiles& files, std::string_view domain,
                                             std::string_view repository = "");

// kilnctl login: stores `auth` for `domain` in Docker's config.json (or its helper).
absl::Status StoreCredentials(const CredentialFiles& files, std::string_view domain,
                              const AuthConfig& auth);

// kilnctl logout: removes `domain`'s entries. NotFound "not logged in to 'domain'" when none.
absl::Status EraseCredentials(const CredentialFiles& files, std::string_view domain);

// The config.json key Docker uses for `domain` ("https://index.docker.io/v1/" for docker.io).
std::string ConfigKey(std::string_view domain);

}  // namespace kiln::engine::registry

#endif  // KILN_ENGINE_REGISTRY_CREDENTIALS_H_
