#include "base/mount.h"

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/status.h"
#include "base/unique_fd.h"

namespace kiln::base {
namespace {

// mount(2) copies at most one page of option data and silently truncates the rest.
constexpr size_t kMaxLegacyDataLen = 4095;

struct FlagWord {
  const char* name;
  unsigned long flag;      // mount(2) flag
  uint64_t attr;           // fsmount/mount_setattr attribute
};

constexpr FlagWord kFlagWords[] = {
    {"ro", MS_RDONLY, MOUNT_ATTR_RDONLY},   {"nosuid", MS_NOSUID, MOUNT_ATTR_NOSUID},
    {"nodev", MS_NODEV, MOUNT_ATTR_NODEV},  {"noexec", MS_NOEXEC, MOUNT_ATTR_NOEXEC},
    {"noatime", MS_NOATIME, MOUNT_ATTR_NOATIME}, {"relatime", MS_RELATIME, MOUNT_ATTR_RELATIME},
};

const FlagWord* FindFlagWord(std::string_view opt) {
  for (const auto& w : kFlagWords) {
    if (opt == w.name) return &w;
  }
  return nullptr;
}

std::string Where(const Mount& m, const std::string& target) {
  return absl::StrCat("mount ", m.type, " at '", target, "'");
}

// Reads the kernel's error log lines from an fs context fd (best effort).
std::string FsContextLog(int fsfd) {
  std::string out;
  char buf[512];
  for (int i = 0; i < 16; ++i) {
    ssize_t n = ::read(fsfd, buf, sizeof buf - 1);
    if (n <= 0) break;
    buf[n] = '\0';
    if (!out.empty()) out += "; ";
    out += std::string(buf, static_cast<size_t>(n));
  }
  return out;
}

absl::Status FsConfigError(int err, int fsfd, const Mount& m, const std::string& target,
                           const std::string& what) {
  std::string log = FsContextLog(fsfd);
  std::string msg = absl::StrCat(Where(m, target), ": ", what);
  if (!log.empty()) absl::StrAppend(&msg, " [kernel: ", log, "]");
  return ErrnoError(err, msg);
}

std::vector<std::string> SplitLowerDirs(std::string_view value) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= value.size()) {
    size_t colon = value.find(':', start);
    if (colon == std::string_view::npos) colon = value.size();
    if (colon > start) out.emplace_back(value.substr(start, colon - start));
    start = colon + 1;
  }
  return out;
}

absl::Status MountOverlay(const Mount& m, const std::string& target) {
  std::vector<std::string> lowers;
  std::vector<std::pair<std::string, std::string>> strings;
  std::vector<std::string> flags;
  uint64_t attrs = 0;
  for (const std::string& opt : m.options) {
    if (const FlagWord* w = FindFlagWord(opt)) {
      attrs |= w->attr;
      continue;
    }
    size_t eq = opt.find('=');
    if (eq == std::string::npos) {
      flags.push_back(opt);
      continue;
    }
    std::string key = opt.substr(0, eq);
    std::string value = opt.substr(eq + 1);
    if (key == "lowerdir") {
      for (auto& l : SplitLowerDirs(value)) lowers.push_back(std::move(l));
    } else if (key == "lowerdir+") {
      lowers.push_back(std::move(value));
    } else {
      strings.emplace_back(std::move(key), std::move(value));
    }
  }
  if (lowers.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(Where(m, target), ": no lowerdir given"));
  }
  if (lowers.size() > static_cast<size_t>(kMaxOverlayLowerDirs)) {
    return absl::InvalidArgumentError(
        absl::StrCat(Where(m, target), ": ", lowers.size(), " lower dirs, the kernel allows ",
                     kMaxOverlayLowerDirs, "; flatten the chain first"));
  }
  UniqueFd fsfd(::fsopen("overlay", FSOPEN_CLOEXEC));
  if (!fsfd) {
    return ErrnoError(absl::StrCat(Where(m, target), ": fsopen overlay (is overlayfs available?)"));
  }
  for (const std::string& lower : lowers) {
    if (::fsconfig(fsfd.get(), FSCONFIG_SET_STRING, "lowerdir+", lower.c_str(), 0) != 0) {
      return FsConfigError(errno, fsfd.get(), m, target,
                           absl::StrCat("add lower dir '", lower, "'"));
    }
  }
  for (const auto& [key, value] : strings) {
    if (::fsconfig(fsfd.get(), FSCONFIG_SET_STRING, key.c_str(), value.c_str(), 0) != 0) {
      return FsConfigError(errno, fsfd.get(), m, target,
                           absl::StrCat("set ", key, "='", value, "'"));
    }
  }
  for (const std::string& flag : flags) {
    if (::fsconfig(fsfd.get(), FSCONFIG_SET_FLAG, flag.c_str(), nullptr, 0) != 0) {
      return FsConfigError(errno, fsfd.get(), m, target, absl::StrCat("set flag ", flag));
    }
  }
  if (::fsconfig(fsfd.get(), FSCONFIG_CMD_CREATE, nullptr, nullptr, 0) != 0) {
    return FsConfigError(errno, fsfd.get(), m, target, "create");
  }
  UniqueFd mfd(::fsmount(fsfd.get(), FSMOUNT_CLOEXEC, static_cast<unsigned int>(attrs)));
  if (!mfd) return FsConfigError(errno, fsfd.get(), m, target, "fsmount");
  if (::move_mount(mfd.get(), "", AT_FDCWD, target.c_str(), MOVE_MOUNT_F_EMPTY_PATH) != 0) {
    return ErrnoError(absl::StrCat(Where(m, target), ": move_mount"));
  }
  return absl::OkStatus();
}

// Flags that a bind remount must keep: in a user namespace, locked flags of the source mount
// cannot be cleared, and a remount that omits them fails with EPERM.
unsigned long LockedFlagsOf(const std::string& path) {
  struct statvfs sv;
  if (::statvfs(path.c_str(), &sv) != 0) return 0;
  unsigned long out = 0;
  if (sv.f_flag & ST_NOSUID) out |= MS_NOSUID;
  if (sv.f_flag & ST_NODEV) out |= MS_NODEV;
  if (sv.f_flag & ST_NOEXEC) out |= MS_NOEXEC;
  if (sv.f_flag & ST_RDONLY) out |= MS_RDONLY;
  return out;
}

absl::Status MountBind(const Mount& m, const std::string& target) {
  unsigned long flags = MS_BIND;
  unsigned long extra = 0;
  for (const std::string& opt : m.options) {
    if (opt == "rbind") {
      flags |= MS_REC;
    } else if (opt == "bind") {
      // implied
    } else if (const FlagWord* w = FindFlagWord(opt)) {
      extra |= w->flag;
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat(Where(m, target), ": unsupported bind option '", opt, "'"));
    }
  }
  if (::mount(m.source.c_str(), target.c_str(), nullptr, flags, nullptr) != 0) {
    return ErrnoError(absl::StrCat(Where(m, target), " from '", m.source, "'"));
  }
  if (extra != 0) {
    unsigned long remount = MS_BIND | MS_REMOUNT | extra | LockedFlagsOf(target);
    if (::mount(nullptr, target.c_str(), nullptr, remount, nullptr) != 0) {
      int err = errno;
      ::umount2(target.c_str(), MNT_DETACH);
      return ErrnoError(err, absl::StrCat(Where(m, target), ": remount with flags"));
    }
  }
  return absl::OkStatus();
}

absl::Status MountGeneric(const Mount& m, const std::string& target) {
  unsigned long flags = 0;
  std::vector<std::string> data;
  for (const std::string& opt : m.options) {
    if (const FlagWord* w = FindFlagWord(opt)) {
      flags |= w->flag;
    } else {
      data.push_back(opt);
    }
  }
  std::string joined = absl::StrJoin(data, ",");
  if (joined.size() > kMaxLegacyDataLen) {
    return absl::InvalidArgumentError(absl::StrCat(Where(m, target), ": option string of ",
                                                   joined.size(), " bytes exceeds ",
                                                   kMaxLegacyDataLen));
  }
  const char* source = m.source.empty() ? m.type.c_str() : m.source.c_str();
  if (::mount(source, target.c_str(), m.type.c_str(), flags,
              joined.empty() ? nullptr : joined.c_str()) != 0) {
    return ErrnoError(Where(m, target));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status MountAt(const Mount& m, const std::string& target) {
  if (m.type.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("mount at '", target, "': empty mount type"));
  }
  if (m.type == "overlay") return MountOverlay(m, target);
  if (m.type == "bind" || m.type == "rbind") {
    Mount copy = m;
    if (m.type == "rbind") copy.options.push_back("rbind");
    return MountBind(copy, target);
  }
  return MountGeneric(m, target);
}

absl::Status MountAllAt(const std::vector<Mount>& mounts, const std::string& target) {
  for (size_t i = 0; i < mounts.size(); ++i) {
    absl::Status s = MountAt(mounts[i], target);
    if (!s.ok()) {
      for (size_t j = 0; j < i; ++j) ::umount2(target.c_str(), MNT_DETACH);
      return s;
    }
  }
  return absl::OkStatus();
}

absl::Status Unmount(const std::string& target) {
  if (::umount2(target.c_str(), MNT_DETACH) != 0) {
    return ErrnoError(absl::StrCat("unmount '", target, "'"));
  }
  return absl::OkStatus();
}

std::vector<std::string> OverlayOption(const Mount& m, std::string_view key) {
  std::vector<std::string> out;
  const bool lower = key == "lowerdir";
  for (std::string_view opt : m.options) {
    if (lower && opt.starts_with("lowerdir+=")) {
      out.emplace_back(opt.substr(10));
    } else if (opt.size() > key.size() && opt.starts_with(key) && opt[key.size()] == '=') {
      std::string_view v = opt.substr(key.size() + 1);
      if (!lower) {
        out.emplace_back(v);
        continue;
      }
      for (size_t start = 0; start <= v.size();) {
        size_t end = std::min(v.find(':', start), v.size());
        if (end > start) out.emplace_back(v.substr(start, end - start));
        start = end + 1;
      }
    }
  }
  return out;
}

}  // namespace kiln::base
