// Status helpers shared by every Kiln library.
//
// KILN_RETURN_IF_ERROR / KILN_ASSIGN_OR_RETURN follow Abseil's (unreleased in Debian 12)
// semantics. ErrnoError builds the house error text: "operation 'object': cause (ENAME)".
#ifndef KILN_BASE_STATUS_H_
#define KILN_BASE_STATUS_H_

#include <cerrno>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define KILN_STATUS_CONCAT_INNER_(a, b) a##b
#define KILN_STATUS_CONCAT_(a, b) KILN_STATUS_CONCAT_INNER_(a, b)

#define KILN_RETURN_IF_ERROR(expr)                      \
  do {                                                  \
    ::absl::Status kiln_status_ = (expr);               \
    if (!kiln_status_.ok()) return kiln_status_;        \
  } while (0)

#define KILN_ASSIGN_OR_RETURN(lhs, rexpr) \
  KILN_ASSIGN_OR_RETURN_IMPL_(KILN_STATUS_CONCAT_(kiln_statusor_, __LINE__), lhs, rexpr)

#define KILN_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, rexpr) \
  auto tmp = (rexpr);                                \
  if (!tmp.ok()) return std::move(tmp).status();     \
  lhs = std::move(*tmp)

namespace kiln::base {

// Debian's Abseil is built with its own absl::string_view (not std::string_view); use this
// to pass a std::string_view to absl::StrCat and friends.
inline absl::string_view AsAbsl(std::string_view s) { return absl::string_view(s.data(), s.size()); }

// Symbolic name of an errno value ("ENOENT"), or "errno N" if unknown.
std::string_view ErrnoName(int err);

// A Status for a failed system call: "<what>: <strerror> (<ENAME>)", with the code that
// absl::ErrnoToStatus picks for `err`.
absl::Status ErrnoError(int err, std::string_view what);

// Same, reading the current errno.
inline absl::Status ErrnoError(std::string_view what) { return ErrnoError(errno, what); }

// Adds context in front of a status message, keeping its code: "context: message".
absl::Status Annotate(const absl::Status& status, std::string_view context);

}  // namespace kiln::base

#endif  // KILN_BASE_STATUS_H_
