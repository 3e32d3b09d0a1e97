// HttpClient: one registry host's HTTP/1.1 transport over libcurl, with keep-alive and a
// bounded pool of connections.
//
// Each request borrows a curl easy handle from the pool (at most `max_connections` in use at
// once; callers beyond that wait), so connections are reused across requests to the same
// host. Redirects are NOT followed here (RegistryClient follows them, because it must drop
// Authorization when the host changes). A 2xx body goes to the request's sink when one is
// given; any other body is buffered (up to 64 KiB) for the error message.
//
// TLS: the system CA bundle plus `ca_files`; `insecure` turns verification off; a client
// key pair may be given. Host names and IP SANs are checked (curl's default).
// Thread-safe: Do may be called from any number of threads.
#ifndef KILN_ENGINE_REGISTRY_HTTP_H_
#define KILN_ENGINE_REGISTRY_HTTP_H_

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace kiln::engine::registry {

struct TlsOptions {
  bool insecure = false;              // skip certificate verification
  std::vector<std::string> ca_files;  // extra CA certificates (PEM)
  std::string client_cert;            // PEM file, with client_key, for mutual TLS
  std::string client_key;
};

struct HttpRequest {
  std::string method = "GET";
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;  // sent for PUT/POST/PATCH
  // Receives a 2xx response body as it arrives; an error stops the transfer and is returned
  // by Do. Unset: the body is buffered into HttpResponse::body (up to max_body).
  std::function<absl::Status(std::string_view)> sink;
  // Called once with the status and headers of a 2xx response, before its first body byte
  // reaches `sink`; an error stops the transfer.
  std::function<absl::Status(const struct HttpResponse&)> on_response;
  size_t max_body = 4 << 20;
};

struct HttpResponse {
  long status = 0;
  std::multimap<std::string, std::string> headers;  // names lowercased
  std::string body;
  // First value of header `name` (lowercase), or empty.
  std::string Header(std::string_view name) const;
};

class HttpClient {
 public:
  HttpClient(TlsOptions tls, int max_connections);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // One exchange. Unavailable "METHOD URL: <curl error>" on transport errors; the sink's
  // error as is; ResourceExhausted when a buffered body exceeds max_body.
  absl::StatusOr<HttpResponse> Do(const HttpRequest& request);

 private:
  void* Acquire();
  void Release(void* handle);

  const TlsOptions tls_;
  const int max_connections_;
  absl::Mutex mu_;
  std::vector<void*> idle_ ABSL_GUARDED_BY(mu_);
  int in_use_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace kiln::engine::registry

#endif  // KILN_ENGINE_REGISTRY_HTTP_H_
