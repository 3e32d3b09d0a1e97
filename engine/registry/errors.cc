#include "engine/registry/errors.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "base/status.h"

namespace kiln::engine::registry {
namespace {

std::string_view Reason(long status) {
  switch (status) {
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 413:
      return "Payload Too Large";
    case 416:
      return "Range Not Satisfiable";
    case 429:
      return "Too Many Requests";
    case 500:
      return "Internal Server Error";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    default:
      return "";
  }
}

absl::StatusCode CodeOf(long status) {
  if (status == 401) return absl::StatusCode::kUnauthenticated;
  if (status == 403) return absl::StatusCode::kPermissionDenied;
  if (status == 404) return absl::StatusCode::kNotFound;
  if (status == 429) return absl::StatusCode::kResourceExhausted;
  if (status >= 500) return absl::StatusCode::kUnavailable;
  return absl::StatusCode::kFailedPrecondition;
}

}  // namespace

absl::Status HttpError(const HttpResponse& response, std::string_view what) {
  std::string msg = absl::StrCat(base::AsAbsl(what), ": HTTP ", response.status);
  std::string_view reason = Reason(response.status);
  if (!reason.empty()) absl::StrAppend(&msg, " ", base::AsAbsl(reason));
  absl::string_view body = absl::StripAsciiWhitespace(response.body);
  if (!body.empty()) absl::StrAppend(&msg, ": ", body);
  std::string warning = response.Header("warning");
  if (!warning.empty()) absl::StrAppend(&msg, " (registry warning: ", warning, ")");
  return absl::Status(CodeOf(response.status), msg);
}

}  // namespace kiln::engine::registry
