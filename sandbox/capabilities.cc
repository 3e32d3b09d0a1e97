#include "sandbox/capabilities.h"

#include <sys/capability.h>

#include <cstdio>
#include <memory>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "base/status.h"

namespace kiln::sandbox {
namespace {

struct CapTextFree {
  void operator()(char* p) const { cap_free(p); }
};

}  // namespace

absl::StatusOr<CapabilitySet> CapabilitySet::FromNames(const std::vector<std::string>& names) {
  uint64_t mask = 0;
  for (const std::string& name : names) {
    std::string lower = absl::AsciiStrToLower(name);
    if (lower.rfind("cap_", 0) != 0) lower = "cap_" + lower;
    cap_value_t value = 0;
    if (cap_from_name(lower.c_str(), &value) != 0 || value < 0 || value >= 64) {
      return absl::InvalidArgumentError(
          absl::StrCat("capability '", name, "': unknown name, expected e.g. CAP_CHOWN"));
    }
    mask |= uint64_t{1} << value;
  }
  return CapabilitySet(mask);
}

CapabilitySet CapabilitySet::DockerDefault() {
  const cap_value_t caps[] = {CAP_CHOWN,   CAP_DAC_OVERRIDE, CAP_FSETID,           CAP_FOWNER,
                              CAP_MKNOD,   CAP_NET_RAW,      CAP_SETGID,           CAP_SETUID,
                              CAP_SETFCAP, CAP_SETPCAP,      CAP_NET_BIND_SERVICE, CAP_SYS_CHROOT,
                              CAP_KILL,    CAP_AUDIT_WRITE};
  uint64_t mask = 0;
  for (cap_value_t c : caps) mask |= uint64_t{1} << c;
  return CapabilitySet(mask);
}

std::vector<std::string> CapabilitySet::Names() const {
  std::vector<std::string> out;
  for (int c = 0; c < 64; ++c) {
    if (!Has(c)) continue;
    std::unique_ptr<char, CapTextFree> text(cap_to_name(c));
    std::string name = text ? std::string(text.get()) : absl::StrCat(c);
    if (name.rfind("cap_", 0) == 0) name = name.substr(4);
    out.push_back(std::move(name));
  }
  return out;
}

int LastCapability() {
  int last = CAP_LAST_CAP;
  if (FILE* f = std::fopen("/proc/sys/kernel/cap_last_cap", "re")) {
    int v = 0;
    if (std::fscanf(f, "%d", &v) == 1 && v > 0 && v < 64) last = v;
    std::fclose(f);
  }
  return last;
}

}  // namespace kiln::sandbox
