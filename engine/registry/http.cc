#include "engine/registry/http.h"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <mutex>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace kiln::engine::registry {
namespace {

constexpr size_t kMaxErrorBody = 64 << 10;

void GlobalInit() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

// Per-exchange state the curl callbacks fill.
struct Exchange {
  CURL* curl = nullptr;
  const HttpRequest* request = nullptr;
  HttpResponse* response = nullptr;
  absl::Status error;  // set by a callback that stopped the transfer
  bool started = false;
};

size_t OnHeader(char* data, size_t size, size_t n, void* user) {
  auto* ex = static_cast<Exchange*>(user);
  std::string_view line(data, size * n);
  if (line.starts_with("HTTP/")) {
    ex->response->headers.clear();  // a new response (after 100 Continue or similar)
    return size * n;
  }
  size_t colon = line.find(':');
  if (colon == std::string_view::npos) return size * n;
  std::string name = absl::AsciiStrToLower(absl::string_view(line.data(), colon));
  absl::string_view value = absl::StripAsciiWhitespace(
      absl::string_view(line.data() + colon + 1, line.size() - colon - 1));
  ex->response->headers.emplace(std::move(name), std::string(value));
  return size * n;
}

size_t OnBody(char* data, size_t size, size_t n, void* user) {
  auto* ex = static_cast<Exchange*>(user);
  size_t len = size * n;
  long status = 0;
  curl_easy_getinfo(ex->curl, CURLINFO_RESPONSE_CODE, &status);
  bool ok = status >= 200 && status < 300;
  if (ok && !ex->started && ex->request->on_response) {
    ex->started = true;
    ex->response->status = status;
    absl::Status s = ex->request->on_response(*ex->response);
    if (!s.ok()) {
      ex->error = s;
      return 0;
    }
  }
  if (ok && ex->request->sink) {
    absl::Status s = ex->request->sink(std::string_view(data, len));
    if (!s.ok()) {
      ex->error = s;
      return 0;
    }
    return len;
  }
  size_t limit = ok ? ex->request->max_body : kMaxErrorBody;
  std::string& body = ex->response->body;
  if (body.size() + len > limit) {
    if (!ok) {  // an error body is only for the message: keep its start
      body.append(data, limit - body.size());
      return len;
    }
    ex->error = absl::ResourceExhaustedError(
        absl::StrCat(ex->request->method, " ", ex->request->url, ": the response is larger than ",
                     limit, " bytes"));
    return 0;
  }
  body.append(data, len);
  return len;
}

void ApplyTls(CURL* curl, const TlsOptions& tls) {
  if (tls.insecure) {
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 0L);
  }
  // curl takes one CA file; the system certificates stay reachable through CAPATH.
  if (!tls.ca_files.empty()) {
    curl_easy_setopt(curl, CURLOPT_CAINFO, tls.ca_files.front().c_str());
    curl_easy_setopt(curl, CURLOPT_CAPATH, "/etc/ssl/certs");
  }
  if (!tls.client_cert.empty()) {
    curl_easy_setopt(curl, CURLOPT_SSLCERT, tls.client_cert.c_str());
    curl_easy_setopt(curl, CURLOPT_SSLKEY, tls.client_key.c_str());
  }
}

}  // namespace

std::string HttpResponse::Header(std::string_view name) const {
  auto it = headers.find(std::string(name));
  return it == headers.end() ? std::string() : it->second;
}

HttpClient::HttpClient(TlsOptions tls, int max_connections)
    : tls_(std::move(tls)), max_connections_(max_connections < 1 ? 1 : max_connections) {
  GlobalInit();
}

HttpClient::~HttpClient() {
  absl::MutexLock lock(&mu_);
  for (void* h : idle_) curl_easy_cleanup(static_cast<CURL*>(h));
}

void* HttpClient::Acquire() {
  absl::MutexLock lock(&mu_);
  auto free_slot = [this]()
                       ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return in_use_ < max_connections_; };
  mu_.Await(absl::Condition(&free_slot));
  ++in_use_;
  if (!idle_.empty()) {
    void* h = idle_.back();
    idle_.pop_back();
    return h;
  }
  return curl_easy_init();
}

void HttpClient::Release(void* handle) {
  absl::MutexLock lock(&mu_);
  --in_use_;
  if (handle != nullptr) idle_.push_back(handle);
}

absl::StatusOr<HttpResponse> HttpClient::Do(const HttpRequest& request) {
  CURL* curl = static_cast<CURL*>(Acquire());
  if (curl == nullptr) {
    Release(nullptr);
    return absl::ResourceExhaustedError("http: curl_easy_init failed");
  }
  curl_easy_reset(curl);  // keeps the connection cache: that is the keep-alive
  HttpResponse response;
  Exchange ex{curl, &request, &response, absl::OkStatus()};
  curl_easy_setopt(curl, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 30L);
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, 60L);
  curl_easy_setopt(curl, CURLOPT_USERAGENT, "kiln/0.1");
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, &OnHeader);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &ex);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &OnBody);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &ex);
  ApplyTls(curl, tls_);
  if (request.method == "HEAD") {
    curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
  } else if (request.method == "GET") {
    curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
  } else {
    curl_easy_setopt(curl, CURLOPT_POST, 1L);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, request.body.data());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE,
                     static_cast<curl_off_t>(request.body.size()));
    if (request.method != "POST") {
      curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, request.method.c_str());
    }
  }
  curl_slist* headers = curl_slist_append(nullptr, "Expect:");
  for (const auto& [name, value] : request.headers) {
    headers = curl_slist_append(headers, absl::StrCat(name, ": ", value).c_str());
  }
  if (request.method != "HEAD" && request.method != "GET" &&
      std::none_of(request.headers.begin(), request.headers.end(), [](const auto& h) {
        return absl::AsciiStrToLower(h.first) == "content-type";
      })) {
    headers = curl_slist_append(headers, "Content-Type: application/octet-stream");
  }
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  CURLcode rc = curl_easy_perform(curl);
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &response.status);
  curl_slist_free_all(headers);
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, nullptr);
  if (rc != CURLE_OK) {
    // A broken handle is dropped rather than pooled.
    curl_easy_cleanup(curl);
    Release(nullptr);
    if (!ex.error.ok()) return ex.error;
    return absl::UnavailableError(
        absl::StrCat(request.method, " ", request.url, ": ", curl_easy_strerror(rc)));
  }
  Release(curl);
  return response;
}

}  // namespace kiln::engine::registry
