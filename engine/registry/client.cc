#include "engine/registry/client.h"

#include <curl/curl.h>

#include <algorithm>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "base/status.h"
#include "engine/registry/errors.h"

namespace kiln::engine::registry {
namespace {

constexpr int kMaxAttempts = 4;
constexpr int kMaxRedirects = 5;

bool IsLoopback(std::string_view domain) {
  std::string_view host = domain;
  if (host.starts_with("[")) return host.starts_with("[::1]");
  host = host.substr(0, host.find(':'));
  return host == "localhost" || host.starts_with("127.");
}

// Resolves `location` against `base` (curl's URL API). Empty on a malformed URL.
std::string ResolveUrl(const std::string& base, const std::string& location) {
  CURLU* u = curl_url();
  std::string out;
  if (curl_url_set(u, CURLUPART_URL, base.c_str(), 0) == CURLUE_OK &&
      curl_url_set(u, CURLUPART_URL, location.c_str(), 0) == CURLUE_OK) {
    char* full = nullptr;
    if (curl_url_get(u, CURLUPART_URL, &full, 0) == CURLUE_OK) out = full;
    curl_free(full);
  }
  curl_url_cleanup(u);
  return out;
}

// "host[:port]" of a URL, empty if malformed.
std::string HostOf(const std::string& url) {
  CURLU* u = curl_url();
  std::string out;
  if (curl_url_set(u, CURLUPART_URL, url.c_str(), 0) == CURLUE_OK) {
    char* host = nullptr;
    char* port = nullptr;
    if (curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK) out = host;
    if (curl_url_get(u, CURLUPART_PORT, &port, 0) == CURLUE_OK) absl::StrAppend(&out, ":", port);
    curl_free(host);
    curl_free(port);
  }
  curl_url_cleanup(u);
  return out;
}

bool IsRedirect(long status) {
  return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

void DropHeader(HttpRequest& request, std::string_view name) {
  std::erase_if(request.headers,
                [&](const auto& h) { return absl::EqualsIgnoreCase(h.first, base::AsAbsl(name)); });
}

}  // namespace

std::string PullScope(const std::string& repository) {
  return absl::StrCat("repository:", repository, ":pull");
}
std::string PushScope(const std::string& repository) {
  return absl::StrCat("repository:", repository, ":pull,push");
}

RegistryClient::RegistryClient(std::string domain, HostOptions options, AuthConfig auth)
    : domain_(std::move(domain)),
      options_(std::move(options)),
      auth_(std::move(auth)),
      http_(options_.tls, options_.max_connections) {
  bool tls_configured =
      options_.tls.insecure || !options_.tls.ca_files.empty() || !options_.tls.client_cert.empty();
  bool plain = options_.plain_http.value_or(IsLoopback(domain_) && !tls_configured);
  std::string host = domain_ == "docker.io" ? "registry-1.docker.io" : domain_;
  base_url_ = absl::StrCat(plain ? "http://" : "https://", host);
  host_ = HostOf(base_url_);
}

std::string RegistryClient::Absolute(const std::string& location) const {
  std::string out = ResolveUrl(base_url_ + "/", location);
  return out.empty() ? location : out;
}

void RegistryClient::Authorize(HttpRequest& request, const std::vector<std::string>& scopes) {
  DropHeader(request, "Authorization");
  absl::MutexLock lock(&mu_);
  if (!challenge_.has_value()) return;
  if (challenge_->scheme == "basic") {
    if (!auth_.username.empty()) {
      request.headers.emplace_back("Authorization", BasicAuthorization(auth_));
    }
    return;
  }
  auto it = tokens_.find(absl::StrJoin(scopes, " "));
  if (it != tokens_.end() && it->second.expires > absl::Now() + absl::Seconds(5)) {
    request.headers.emplace_back("Authorization", absl::StrCat("Bearer ", it->second.token));
  }
}

absl::Status RegistryClient::Answer(const HttpResponse& response,
                                    const std::vector<std::string>& scopes) {
  std::string header = response.Header("www-authenticate");
  std::string what = absl::StrCat("authenticate to '", domain_, "'");
  if (header.empty()) return HttpError(response, what);
  KILN_ASSIGN_OR_RETURN(std::vector<Challenge> challenges, ParseChallenges(header));
  const Challenge* chosen = nullptr;
  for (const Challenge& c : challenges) {
    if (c.scheme == "bearer") chosen = &c;
  }
  for (const Challenge& c : challenges) {
    if (chosen == nullptr && c.scheme == "basic") chosen = &c;
  }
  if (chosen == nullptr) {
    return absl::UnimplementedError(absl::StrCat(what, ": unsupported challenge '", header, "'"));
  }
  if (chosen->scheme == "basic") {
    if (auth_.username.empty()) {
      return base::Annotate(HttpError(response, absl::StrCat(what, " (it asks for ", header, ")")),
                            "no credentials (run `kilnctl login " + domain_ + "`)");
    }
    absl::MutexLock lock(&mu_);
    challenge_ = *chosen;
    return absl::OkStatus();
  }
  // One token fetch per scope set: parallel requests that all got a 401 wait for the first.
  absl::MutexLock fetching(&fetch_mu_);
  {
    absl::MutexLock lock(&mu_);
    auto it = tokens_.find(absl::StrJoin(scopes, " "));
    if (it != tokens_.end() && it->second.expires > absl::Now() + absl::Seconds(5)) {
      return absl::OkStatus();
    }
  }
  KILN_ASSIGN_OR_RETURN(Token token, FetchToken(http_, *chosen, scopes, auth_));
  absl::MutexLock lock(&mu_);
  challenge_ = *chosen;
  tokens_[absl::StrJoin(scopes, " ")] = std::move(token);
  return absl::OkStatus();
}

absl::Duration RegistryClient::RetryWait(const HttpResponse& response, int attempt) const {
  int64_t seconds = 0;
  std::string after = response.Header("retry-after");
  absl::Duration wait = absl::Milliseconds(500) * (1 << attempt);
  if (!after.empty() && absl::SimpleAtoi(after, &seconds) && seconds >= 0) {
    wait = absl::Seconds(seconds);
  }
  return std::min(wait, options_.max_retry_wait);
}

absl::StatusOr<HttpResponse> RegistryClient::SendOnce(const HttpRequest& request) {
  HttpRequest hop = request;
  for (int i = 0;; ++i) {
    KILN_ASSIGN_OR_RETURN(HttpResponse resp, http_.Do(hop));
    if (!IsRedirect(resp.status) || resp.Header("location").empty()) return resp;
    if (i == kMaxRedirects) {
      return absl::UnavailableError(absl::StrCat(request.method, " ", request.url, ": more than ",
                                                 kMaxRedirects, " redirects"));
    }
    std::string next = ResolveUrl(hop.url, resp.Header("location"));
    if (next.empty()) {
      return absl::UnavailableError(absl::StrCat(request.method, " ", request.url,
                                                 ": bad redirect '", resp.Header("location"), "'"));
    }
    if (HostOf(next) != host_) DropHeader(hop, "Authorization");
    if (resp.status == 303) {
      hop.method = "GET";
      hop.body.clear();
    }
    hop.url = std::move(next);
  }
}

absl::StatusOr<HttpResponse> RegistryClient::Send(HttpRequest request,
                                                  const std::vector<std::string>& scopes) {
  if (request.url.starts_with("/")) request.url = base_url_ + request.url;
  bool answered = false;
  for (int attempt = 0;; ++attempt) {
    Authorize(request, scopes);
    KILN_ASSIGN_OR_RETURN(HttpResponse resp, SendOnce(request));
    if (resp.status == 401 && !answered) {
      answered = true;
      KILN_RETURN_IF_ERROR(Answer(resp, scopes));
      continue;
    }
    if ((resp.status == 429 || resp.status == 503) && attempt + 1 < kMaxAttempts) {
      absl::SleepFor(RetryWait(resp, attempt));
      continue;
    }
    return resp;
  }
}

}  // namespace kiln::engine::registry
