#include "engine/daemon/paths.h"

#include <pwd.h>
#include <unistd.h>

#include <cstdlib>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "base/status.h"

namespace kiln::engine::daemon {
namespace {

std::string Env(const char* name) {
  const char* value = std::getenv(name);
  return value != nullptr ? std::string(value) : std::string();
}

std::string HomeDir(unsigned uid) {
  std::string home = Env("HOME");
  if (!home.empty()) return home;
  struct passwd pw;
  struct passwd* found = nullptr;
  char buf[4096];
  if (getpwuid_r(uid, &pw, buf, sizeof(buf), &found) == 0 && found != nullptr) {
    return found->pw_dir;
  }
  return "/tmp";
}

// $VAR if set and absolute (as the XDG spec asks), else home + fallback.
std::string XdgDir(const char* var, unsigned uid, const char* fallback) {
  std::string value = Env(var);
  if (!value.empty() && value[0] == '/') return value;
  return HomeDir(uid) + fallback;
}

}  // namespace

DefaultPaths DefaultPathsFor(unsigned uid) {
  if (uid == 0) {
    return DefaultPaths{"/run/kiln/kilnd.sock", "/var/lib/kiln", "/etc/kiln/kilnd.toml"};
  }
  DefaultPaths paths;
  std::string runtime = Env("XDG_RUNTIME_DIR");
  if (runtime.empty() || runtime[0] != '/') runtime = absl::StrCat("/run/user/", uid);
  paths.socket = runtime + "/kiln/kilnd.sock";
  paths.root = XdgDir("XDG_DATA_HOME", uid, "/.local/share") + "/kiln";
  paths.config = XdgDir("XDG_CONFIG_HOME", uid, "/.config") + "/kiln/kilnd.toml";
  return paths;
}

absl::StatusOr<std::string> SocketPathFromAddress(std::string_view address) {
  std::string_view path = address;
  if (absl::StartsWith(base::AsAbsl(path), "unix://")) {
    path.remove_prefix(7);
  } else if (absl::StartsWith(base::AsAbsl(path), "unix:")) {
    path.remove_prefix(5);
  } else if (path.find("://") != std::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat(
        "parse address '", base::AsAbsl(address), "': only unix:///path addresses are supported"));
  }
  if (path.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("parse address '", base::AsAbsl(address), "': empty socket path"));
  }
  if (path[0] == '/') return std::string(path);
  char cwd[4096];
  if (getcwd(cwd, sizeof(cwd)) == nullptr) return base::ErrnoError("getcwd");
  return absl::StrCat(cwd, "/", base::AsAbsl(path));
}

std::string GrpcTarget(const std::string& socket_path) { return "unix:" + socket_path; }

}  // namespace kiln::engine::daemon
