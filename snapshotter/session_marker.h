// Internal: the marker that tells a clean shutdown from a machine crash.
//
// <root>/session holds "open <boot id>" while a snapshotter that does not fsync each
// metadata transaction has the root open, and "closed" once everything it wrote was flushed.
// "open" with the boot id of an earlier boot (the kernel's random boot_id changes on every
// boot) means the machine went down while the root was open: the unflushed metadata may be
// torn and layer contents (never fsynced) may be lost, so nothing in the root can be trusted.
// "open" with this boot's id means only a process died: the page cache still holds every
// write, and the root is intact.
//
// Thread safety: plain functions; callers hold the root's lock.
#ifndef KILN_SNAPSHOTTER_SESSION_MARKER_H_
#define KILN_SNAPSHOTTER_SESSION_MARKER_H_

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace kiln::snapshotter::internal {

enum class SessionState {
  kNone,             // no marker: a new root, or one written only with per-transaction fsync
  kClosed,           // flushed and closed
  kOpenThisBoot,     // a process died with the root open; the data is all in the page cache
  kOpenEarlierBoot,  // the machine went down with the root open
};

// The running kernel's boot id (/proc/sys/kernel/random/boot_id), trimmed.
absl::StatusOr<std::string> CurrentBootId();

// Reads <root>/session and classifies it against `boot_id`. A marker with unrecognised
// content counts as kOpenEarlierBoot (trust nothing). Errors from the file system.
absl::StatusOr<SessionState> ReadSession(const std::string& root, std::string_view boot_id);

// Replaces <root>/session with "open <boot_id>" or "closed" durably: temp file, fsync,
// rename, fsync of the root directory.
absl::Status WriteSessionOpen(const std::string& root, std::string_view boot_id);
absl::Status WriteSessionClosed(const std::string& root);

}  // namespace kiln::snapshotter::internal

#endif  // KILN_SNAPSHOTTER_SESSION_MARKER_H_
