#include "snapshotter/probe.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "base/fs.h"
#include "base/mount.h"
#include "base/status.h"
#include "base/temp_dir.h"
#include "base/userns.h"
#include "snapshotter/native_snapshotter.h"
#include "snapshotter/overlay_snapshotter.h"

namespace kiln::snapshotter {
namespace {

absl::Status Touch(const std::string& path) {
  base::UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644));
  if (!fd) return base::ErrnoError(absl::StrCat("create '", path, "'"));
  return absl::OkStatus();
}

absl::Status MakeDirs(const std::string& base, std::initializer_list<const char*> names) {
  for (const char* n : names) {
    std::string p = absl::StrCat(base, "/", n);
    if (::mkdir(p.c_str(), 0755) != 0) return base::ErrnoError(absl::StrCat("mkdir '", p, "'"));
  }
  return absl::OkStatus();
}

absl::Status ProbeIn(const std::string& dir) {
  KILN_RETURN_IF_ERROR(MakeDirs(dir, {"l1", "l2", "u", "w", "m"}));
  KILN_RETURN_IF_ERROR(Touch(dir + "/l1/a"));
  KILN_RETURN_IF_ERROR(Touch(dir + "/l2/b"));
  base::Mount m{"overlay", "overlay",
                {"lowerdir+=" + dir + "/l1", "lowerdir+=" + dir + "/l2", "upperdir=" + dir + "/u",
                 "workdir=" + dir + "/w", "index=off", "redirect_dir=nofollow", "metacopy=off"}};
  if (base::InUserNamespace()) m.options.push_back("userxattr");
  absl::Status s = base::MountAt(m, dir + "/m");
  if (!s.ok()) return absl::FailedPreconditionError(absl::StrCat("overlay unusable: ", s.message()));
  base::ScopedMount mounted(dir + "/m");
  struct stat st;
  if (::stat((dir + "/m/a").c_str(), &st) != 0 || ::stat((dir + "/m/b").c_str(), &st) != 0) {
    return absl::FailedPreconditionError("overlay unusable: lower files not visible");
  }
  if (::unlink((dir + "/m/b").c_str()) != 0) {
    return absl::FailedPreconditionError(
        base::ErrnoError("overlay unusable: delete a lower file").message());
  }
  KILN_RETURN_IF_ERROR(mounted.Reset());
  if (::lstat((dir + "/u/b").c_str(), &st) != 0 || !S_ISCHR(st.st_mode) ||
      st.st_rdev != makedev(0, 0)) {
    return absl::FailedPreconditionError("overlay unusable: deleting did not leave a whiteout");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReadDriverFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::string();
  std::string name;
  std::getline(in, name);
  return name;
}

absl::Status WriteDriverFile(const std::string& root, std::string_view name) {
  base::WriteFileOptions o;
  o.mode = 0600;
  return base::WriteFileAtomically(root + "/driver", absl::StrCat(base::AsAbsl(name), "\n"), o);
}

}  // namespace

std::string_view DriverName(Driver driver) {
  switch (driver) {
    case Driver::kAuto:
      return "auto";
    case Driver::kOverlay:
      return "overlay";
    case Driver::kNative:
      return "native";
  }
  return "unknown";
}

absl::Status ProbeOverlay(const std::string& root) {
  KILN_RETURN_IF_ERROR(base::MkdirAll(root, 0700));
  KILN_ASSIGN_OR_RETURN(base::TempDir dir, base::TempDir::Create("probe-", root));
  return ProbeIn(dir.path());
}

absl::StatusOr<OpenedSnapshotter> OpenSnapshotter(const std::string& root, Driver driver,
                                                  const LocalSnapshotterOptions& options) {
  KILN_RETURN_IF_ERROR(base::MkdirAll(root, 0700));
  OpenedSnapshotter out;
  KILN_ASSIGN_OR_RETURN(std::string recorded, ReadDriverFile(root + "/driver"));
  if (!recorded.empty()) {
    Driver was = recorded == "overlay" ? Driver::kOverlay
                 : recorded == "native" ? Driver::kNative
                                        : Driver::kAuto;
    if (was == Driver::kAuto) {
      return absl::DataLossError(
          absl::StrCat("open snapshotter '", root, "': unknown driver '", recorded, "'"));
    }
    if (driver != Driver::kAuto && driver != was) {
      return absl::InvalidArgumentError(
          absl::StrCat("open snapshotter '", root, "' as ", base::AsAbsl(DriverName(driver)),
                       ": the root was created by the ", recorded, " snapshotter"));
    }
    driver = was;
  } else if (driver == Driver::kAuto) {
    absl::Status probe = ProbeOverlay(root);
    driver = probe.ok() ? Driver::kOverlay : Driver::kNative;
    if (!probe.ok()) out.reason = std::string(probe.message());
  }
  if (recorded.empty()) KILN_RETURN_IF_ERROR(WriteDriverFile(root, DriverName(driver)));
  out.driver = driver;
  if (driver == Driver::kOverlay) {
    KILN_ASSIGN_OR_RETURN(out.snapshotter, OverlaySnapshotter::Open(root, options));
  } else {
    KILN_ASSIGN_OR_RETURN(out.snapshotter, NativeSnapshotter::Open(root, options));
  }
  return out;
}

}  // namespace kiln::snapshotter
