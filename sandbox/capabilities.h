// CapabilitySet: the capabilities a sandboxed process keeps (a value).
//
// The run applies the set to the effective, permitted, inheritable and bounding sets (for uid 0;
// a non-root user gets empty effective/permitted/inheritable sets, as Docker does) and clears the
// ambient set. Thread-compatible value type.
#ifndef KILN_SANDBOX_CAPABILITIES_H_
#define KILN_SANDBOX_CAPABILITIES_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace kiln::sandbox {

class CapabilitySet {
 public:
  CapabilitySet() = default;
  // Parses names like "CAP_CHOWN" or "chown" with libcap. InvalidArgument for unknown names.
  static absl::StatusOr<CapabilitySet> FromNames(const std::vector<std::string>& names);
  // Docker's default 14: CHOWN DAC_OVERRIDE FSETID FOWNER MKNOD NET_RAW SETGID SETUID SETFCAP
  // SETPCAP NET_BIND_SERVICE SYS_CHROOT KILL AUDIT_WRITE.
  static CapabilitySet DockerDefault();

  bool Has(int cap) const { return cap >= 0 && cap < 64 && ((mask_ >> cap) & 1U) != 0; }
  uint64_t mask() const { return mask_; }
  // Lower-case names without the "cap_" prefix, in capability order (via libcap).
  std::vector<std::string> Names() const;

 private:
  explicit CapabilitySet(uint64_t mask) : mask_(mask) {}
  uint64_t mask_ = 0;
};

// The highest capability number this kernel knows (/proc/sys/kernel/cap_last_cap), or
// libcap's compiled-in value if that file is unreadable.
int LastCapability();

}  // namespace kiln::sandbox

#endif  // KILN_SANDBOX_CAPABILITIES_H_
