#include "base/status.h"

#include <cstring>

#include "absl/strings/str_cat.h"

namespace kiln::base {

std::string_view ErrnoName(int err) {
  const char* name = strerrorname_np(err);
  return name != nullptr ? std::string_view(name) : std::string_view("errno ?");
}

absl::Status ErrnoError(int err, std::string_view what) {
  absl::Status generic = absl::ErrnoToStatus(err, "");
  return absl::Status(generic.code(), absl::StrCat(AsAbsl(what),
                                                   ": ", strerror(err), " (", AsAbsl(ErrnoName(err)),
                                                   ")"));
}

absl::Status Annotate(const absl::Status& status, std::string_view context) {
  if (status.ok()) return status;
  return absl::Status(status.code(), absl::StrCat(AsAbsl(context),
                                                  ": ", status.message()));
}

}  // namespace kiln::base
