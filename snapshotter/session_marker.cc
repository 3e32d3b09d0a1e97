#include "snapshotter/session_marker.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "base/fs.h"
#include "base/status.h"
#include "base/unique_fd.h"

namespace kiln::snapshotter::internal {
namespace {

constexpr char kMarker[] = "/session";
constexpr std::string_view kOpenPrefix = "open ";
constexpr std::string_view kClosed = "closed";

// The whole file; empty with *missing set when it does not exist.
absl::StatusOr<std::string> ReadSmallFile(const std::string& path, bool* missing) {
  *missing = false;
  base::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd) {
    if (errno == ENOENT) {
      *missing = true;
      return std::string();
    }
    return base::ErrnoError(absl::StrCat("open '", path, "'"));
  }
  std::string out;
  char buf[256];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return base::ErrnoError(absl::StrCat("read '", path, "'"));
    }
    if (n == 0) return out;
    out.append(buf, static_cast<size_t>(n));
    if (out.size() > 4096) {
      return absl::DataLossError(absl::StrCat("read '", path, "': larger than a marker"));
    }
  }
}

absl::Status WriteMarker(const std::string& root, std::string_view content) {
  base::WriteFileOptions o;
  o.mode = 0600;
  o.sync_dir = true;
  return base::WriteFileAtomically(root + kMarker, absl::StrCat(base::AsAbsl(content), "\n"), o);
}

}  // namespace

absl::StatusOr<std::string> CurrentBootId() {
  constexpr char kPath[] = "/proc/sys/kernel/random/boot_id";
  bool missing = false;
  KILN_ASSIGN_OR_RETURN(std::string id, ReadSmallFile(kPath, &missing));
  absl::string_view trimmed = absl::StripAsciiWhitespace(id);
  if (missing || trimmed.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("read '", kPath, "': no boot id (is /proc mounted?)"));
  }
  return std::string(trimmed);
}

absl::StatusOr<SessionState> ReadSession(const std::string& root, std::string_view boot_id) {
  std::string path = root + kMarker;
  bool missing = false;
  KILN_ASSIGN_OR_RETURN(std::string text, ReadSmallFile(path, &missing));
  if (missing) return SessionState::kNone;
  absl::string_view line = absl::StripAsciiWhitespace(text);
  if (line == base::AsAbsl(kClosed)) return SessionState::kClosed;
  if (absl::ConsumePrefix(&line, base::AsAbsl(kOpenPrefix)) && !line.empty()) {
    return line == base::AsAbsl(boot_id) ? SessionState::kOpenThisBoot
                                         : SessionState::kOpenEarlierBoot;
  }
  // Unrecognised content: trust nothing, as after a crash.
  return SessionState::kOpenEarlierBoot;
}

absl::Status WriteSessionOpen(const std::string& root, std::string_view boot_id) {
  return WriteMarker(root, absl::StrCat(base::AsAbsl(kOpenPrefix), base::AsAbsl(boot_id)));
}

absl::Status WriteSessionClosed(const std::string& root) { return WriteMarker(root, kClosed); }

}  // namespace kiln::snapshotter::internal
