#include "engine/image/state_root.h"

#include <pwd.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

namespace kiln::engine::image {

namespace {

// True for root of the initial user namespace (uid_map "0 0 4294967295"). Root inside a
// rootless user namespace is the invoking user, whose state lives under its home.
bool IsHostRoot() {
  if (::geteuid() != 0) return false;
  std::ifstream map("/proc/self/uid_map");
  unsigned long inside = 1, outside = 1, count = 0;
  if (!(map >> inside >> outside >> count)) return true;  // no procfs: trust geteuid
  return inside == 0 && outside == 0 && count == 4294967295UL;
}

}  // namespace

std::string DefaultStateRoot() {
  if (IsHostRoot()) return "/var/lib/kiln";
  const char* xdg = std::getenv("XDG_DATA_HOME");
  if (xdg != nullptr && xdg[0] == '/') return std::string(xdg) + "/kiln";
  std::string home;
  if (const char* h = std::getenv("HOME"); h != nullptr && h[0] == '/') {
    home = h;
  } else {
    struct passwd pw;
    struct passwd* result = nullptr;
    std::vector<char> buf(16384);
    if (::getpwuid_r(::geteuid(), &pw, buf.data(), buf.size(), &result) == 0 && result != nullptr) {
      home = pw.pw_dir;
    }
  }
  if (home.empty()) home = "/tmp";
  return home + "/.local/share/kiln";
}

}  // namespace kiln::engine::image
