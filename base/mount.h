// Mount descriptions and the one place that turns them into kernel mounts.
//
// Snapshotters *describe* mounts (a Mount value); consumers (sandbox, engine, tests) mount
// them with MountAt. Overlay mounts always go through the new mount API (fsopen/fsconfig
// with one "lowerdir+" per layer), so neither the 4,095-byte limit of mount(2)'s data string
// nor path lengths matter; every fsconfig return is checked. The kernel caps lower layers at
// 500; a description with more is rejected (snapshotters flatten before that).
#ifndef KILN_BASE_MOUNT_H_
#define KILN_BASE_MOUNT_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"

namespace kiln::base {

inline constexpr int kMaxOverlayLowerDirs = 500;

// type: "overlay", "bind", "tmpfs", "proc", ...
// source: the device or path ("overlay" for overlay, the host path for bind).
// options: fs options. For overlay: "lowerdir=A:B" (first = top-most) and/or repeated
//   "lowerdir+=A" entries (top-most first), "upperdir=U", "workdir=W", "userxattr", ...
//   For bind: "rbind" (recursive), "ro". Generic flags: "ro", "nosuid", "nodev", "noexec".
struct Mount {
  std::string type;
  std::string source;
  std::vector<std::string> options;

  friend bool operator==(const Mount&, const Mount&) = default;
};

// The values of overlay option `key` in `m`, in order: "upperdir" gives the upper dir (if
// any); "lowerdir" gives every lower dir of "lowerdir=A:B" and "lowerdir+=A" entries alike,
// top-most first.
std::vector<std::string> OverlayOption(const Mount& m, std::string_view key);

// Mounts `m` at `target` (an existing directory). Errors: InvalidArgument for a malformed
// description, FailedPrecondition when the kernel lacks a feature, others from errno, with
// the text "mount <type> at '<target>': <cause>".
absl::Status MountAt(const Mount& m, const std::string& target);

// Mounts a list in order at the same target (later ones stack on top).
absl::Status MountAllAt(const std::vector<Mount>& mounts, const std::string& target);

// Detaches whatever is mounted at `target` (umount2 MNT_DETACH). NotFound-free: a target
// that is not a mount point gives InvalidArgument.
absl::Status Unmount(const std::string& target);

// Unmounts `target` on destruction unless released. Move-only.
class ScopedMount {
 public:
  ScopedMount() = default;
  explicit ScopedMount(std::string target) : target_(std::move(target)) {}
  ~ScopedMount() { (void)Reset(); }
  ScopedMount(ScopedMount&& o) noexcept : target_(std::move(o.target_)) { o.target_.clear(); }
  ScopedMount& operator=(ScopedMount&& o) noexcept {
    if (this != &o) {
      (void)Reset();
      target_ = std::move(o.target_);
      o.target_.clear();
    }
    return *this;
  }
  ScopedMount(const ScopedMount&) = delete;
  ScopedMount& operator=(const ScopedMount&) = delete;

  const std::string& target() const { return target_; }
  // Unmounts now; returns the error, if any.
  absl::Status Reset() {
    if (target_.empty()) return absl::OkStatus();
    std::string t = std::move(target_);
    target_.clear();
    return Unmount(t);
  }
  std::string Release() {
    std::string t = std::move(target_);
    target_.clear();
    return t;
  }

 private:
  std::string target_;
};

}  // namespace kiln::base

#endif  // KILN_BASE_MOUNT_H_
