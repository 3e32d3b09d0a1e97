// RegistryClient: talks to one registry (one reference domain) over the OCI Distribution
// API: base URL, authentication, redirects, retries.
//
// - Base URL: docker.io is served at https://registry-1.docker.io. Other domains use HTTPS,
//   except with `plain_http` set, or by default for loopback hosts (localhost, 127.0.0.0/8,
//   [::1]) when no TLS option (ca, insecure, client key pair) is configured for them.
// - Auth: anonymous first; on 401 the WWW-Authenticate challenge is parsed and the request is
//   retried once with Basic credentials or a Bearer token for the request's scopes. Tokens are
//   cached per scope set until they expire, and fetched once when parallel requests all get a
//   401; a Basic challenge makes later requests send the header up front.
// - Redirects (301/302/303/307/308, up to 5) are followed; Authorization is only sent to the
//   registry's own host, never forwarded to another one (S3/CDN presigned URLs).
// - 429 and 503 are retried (4 attempts) after Retry-After seconds, capped at
//   max_retry_wait (10 s), or after a 0.5 s, 1 s, 2 s backoff without one.
// Thread-safe.
#ifndef KILN_ENGINE_REGISTRY_CLIENT_H_
#define KILN_ENGINE_REGISTRY_CLIENT_H_

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "engine/registry/auth.h"
#include "engine/registry/http.h"

namespace kiln::engine::registry {

// Options for one registry host (kilnd's [registry."host"] table).
struct HostOptions {
  std::optional<bool> plain_http;  // http = true; unset: loopback without TLS options only
  TlsOptions tls;                  // ca = [...], insecure = true, keypair
  std::vector<std::string> mirrors;
  int max_connections = 4;  // parallel requests to this registry
  absl::Duration max_retry_wait = absl::Seconds(10);
};

class RegistryClient {
 public:
  // `domain` as in a normalized reference ("docker.io", "127.0.0.1:5000", "ghcr.io").
  RegistryClient(std::string domain, HostOptions options, AuthConfig auth);

  const std::string& domain() const { return domain_; }
  // "https://registry-1.docker.io", "http://127.0.0.1:5000".
  const std::string& base_url() const { return base_url_; }
  int max_connections() const { return options_.max_connections; }

  // Sends `request` (a URL starting with "/" is relative to the base URL) with the auth for
  // `scopes` ("repository:library/busybox:pull"), following redirects and retrying as above.
  // Returns whatever response came last; transport errors as Unavailable.
  absl::StatusOr<HttpResponse> Send(HttpRequest request, const std::vector<std::string>& scopes);

  // The absolute form of a Location header value (relative to the base URL).
  std::string Absolute(const std::string& location) const;

 private:
  absl::StatusOr<HttpResponse> SendOnce(const HttpRequest& request);
  // Adds the cached Authorization for `scopes`, if any.
  void Authorize(HttpRequest& request, const std::vector<std::string>& scopes);
  // Handles a 401: parses the challenge and fetches what it asks for. Error if it cannot be
  // answered (no credentials for Basic, token refused).
  absl::Status Answer(const HttpResponse& response, const std::vector<std::string>& scopes);
  absl::Duration RetryWait(const HttpResponse& response, int attempt) const;

  const std::string domain_;
  const HostOptions options_;
  const AuthConfig auth_;
  std::string base_url_;
  std::string host_;  // host[:port] of base_url_
  HttpClient http_;
  absl::Mutex fetch_mu_;  // held while fetching a token (taken before mu_)
  absl::Mutex mu_;
  std::optional<Challenge> challenge_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, Token> tokens_ ABSL_GUARDED_BY(mu_);  // by joined scopes
};

// The scope for pulling from / pushing to `repository`.
std::string PullScope(const std::string& repository);
std::string PushScope(const std::string& repository);

}  // namespace kiln::engine::registry

#endif  // KILN_ENGINE_REGISTRY_CLIENT_H_
