#include "engine/ops/mount_target_paths.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "base/fs.h"
#include "base/status.h"
#include "base/unique_fd.h"

namespace kiln::engine {
namespace {

using base::UniqueFd;

UniqueFd OpenInRoot(int root_fd, const std::string& rel, int flags) {
  return UniqueFd(base::OpenAt2(root_fd, rel, flags, 0, base::kResolveInRoot));
}

std::vector<std::string> Components(const std::string& path) {
  std::vector<std::string> out;
  for (absl::string_view c : absl::StrSplit(path, '/', absl::SkipEmpty())) {
    if (c != ".") out.emplace_back(c);
  }
  return out;
}

}  // namespace

absl::StatusOr<MountTargetPaths> MountTargetPaths::Find(int root_fd, const std::vector<std::string>& targets) {
  MountTargetPaths out;
  for (const std::string& target : targets) {
    std::vector<std::string> comps = Components(target);
    std::string prefix;
    for (size_t i = 0; i < comps.size(); ++i) {
      std::string next = prefix.empty() ? comps[i] : absl::StrCat(prefix, "/", comps[i]);
      UniqueFd fd = OpenInRoot(root_fd, next, O_PATH);
      if (fd) {
        prefix = std::move(next);
        continue;
      }
      if (errno != ENOENT) break;  // e.g. ENOTDIR: the sandbox reports it
      Created s;
      s.parent = prefix;
      UniqueFd parent = OpenInRoot(root_fd, prefix, O_PATH | O_DIRECTORY);
      struct stat st;
      if (!parent || ::fstat(parent.get(), &st) != 0) {
        return base::ErrnoError(absl::StrCat("stat mount target parent '/", prefix, "'"));
      }
      s.parent_times[0] = st.st_atim;
      s.parent_times[1] = st.st_mtim;
      for (size_t j = i; j < comps.size(); ++j) {
        std::vector<std::string> upto(comps.begin(), comps.begin() + static_cast<long>(j) + 1);
        s.created.push_back(absl::StrJoin(upto, "/"));
      }
      out.created_.push_back(std::move(s));
      break;
    }
  }
  return out;
}

std::vector<std::string> MountTargetPaths::Paths() const {
  std::vector<std::string> out;
  for (const Created& s : created_) {
    for (const std::string& p : s.created) out.push_back("/" + p);
  }
  return out;
}

absl::Status MountTargetPaths::Remove(int root_fd) const {
  for (const Created& s : created_) {
    bool all_gone = true;
    for (auto it = s.created.rbegin(); it != s.created.rend() && all_gone; ++it) {
      size_t slash = it->find_last_of('/');
      std::string parent = slash == std::string::npos ? "" : it->substr(0, slash);
      std::string base = slash == std::string::npos ? *it : it->substr(slash + 1);
      UniqueFd pfd = OpenInRoot(root_fd, parent, O_PATH | O_DIRECTORY);
      if (!pfd) continue;  // gone, or never made in the rootfs (e.g. under /dev)
      struct stat st;
      if (::fstatat(pfd.get(), base.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
      int rc = -1;
      if (S_ISDIR(st.st_mode)) {
        rc = ::unlinkat(pfd.get(), base.c_str(), AT_REMOVEDIR);
      } else if (S_ISREG(st.st_mode) && st.st_size == 0) {
        rc = ::unlinkat(pfd.get(), base.c_str(), 0);
      }
      if (rc != 0) {
        if (rc == -1 && errno != ENOTEMPTY && errno != EEXIST && S_ISDIR(st.st_mode)) {
          return base::ErrnoError(absl::StrCat("remove mount target path '/", *it, "'"));
        }
        all_gone = false;  // the command left something there: keep it
      }
    }
    if (!all_gone) continue;
    UniqueFd parent = OpenInRoot(root_fd, s.parent, O_RDONLY | O_DIRECTORY);
    if (parent && ::futimens(parent.get(), s.parent_times) != 0) {
      return base::ErrnoError(absl::StrCat("restore times of '/", s.parent, "'"));
    }
  }
  return absl::OkStatus();
}

}  // namespace kiln::engine
