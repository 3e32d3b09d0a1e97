#include "engine/image/state_root.h"

#include <pwd.h>
#include <unistd.h>

#include <cstdlib>
#include <vector>

namespace kiln::engine::image {

std::string DefaultStateRoot() {
  if (::geteuid() == 0) return "/var/lib/kiln";
  const char* xdg = std::getenv("XDG_DATA_HOME");
  if (xdg != nullptr && xdg[0] == '/') return std::string(xdg) + "/kiln";
  std::string home;
  if (const char* h = std::getenv("HOME"); h != nullptr && h[0] != '\0') {
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
