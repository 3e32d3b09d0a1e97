#include "snapshotter/diff/rooted_dir.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/status.h"

namespace kiln::snapshotter::internal {

absl::StatusOr<std::string> CleanPath(const std::string& path) {
  std::string out;
  size_t i = 0;
  while (i <= path.size()) {
    size_t j = path.find('/', i);
    if (j == std::string::npos) j = path.size();
    std::string comp = path.substr(i, j - i);
    i = j + 1;
    if (comp.empty() || comp == ".") continue;
    if (comp == "..") {
      return absl::InvalidArgumentError(
          absl::StrCat("layer entry '", path, "': path escapes the root ('..' component)"));
    }
    if (!out.empty()) out += '/';
    out += comp;
  }
  return out;
}

std::pair<std::string, std::string> SplitPath(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return {"", path};
  return {path.substr(0, slash), path.substr(slash + 1)};
}

absl::StatusOr<RootedDir> RootedDir::Open(const std::string& path) {
  int fd = ::open(path.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return base::ErrnoError("open target directory '" + path + "'");
  return RootedDir(base::UniqueFd(fd), path);
}

absl::StatusOr<base::UniqueFd> RootedDir::Resolve(const std::string& rel) const {
  struct open_how how {};
  how.flags = O_PATH | O_DIRECTORY | O_CLOEXEC;
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  const char* p = rel.empty() ? "." : rel.c_str();
  for (;;) {
    long fd = ::syscall(SYS_openat2, root_.get(), p, &how, sizeof(how));
    if (fd >= 0) return base::UniqueFd(static_cast<int>(fd));
    if (errno == EINTR || errno == EAGAIN) continue;
    if (errno == ENOSYS) {
      return absl::FailedPreconditionError("openat2: the kernel lacks it (need Linux >= 5.6)");
    }
    return base::ErrnoError(absl::StrCat("resolve '", rel, "' in '", path_, "'"));
  }
}

absl::StatusOr<base::UniqueFd> RootedDir::EnsureDir(
    const std::string& rel, const std::function<void(const std::string&)>& on_create) {
  absl::StatusOr<base::UniqueFd> fd = Resolve(rel);
  if (fd.ok() || !absl::IsNotFound(fd.status()) || rel.empty()) return fd;
  auto [parent, leaf] = SplitPath(rel);
  KILN_ASSIGN_OR_RETURN(base::UniqueFd pfd, EnsureDir(parent, on_create));
  if (::mkdirat(pfd.get(), leaf.c_str(), 0755) == 0) {
    on_create(rel);
  } else if (errno != EEXIST) {
    return base::ErrnoError(absl::StrCat("mkdir '", rel, "' in '", path_, "'"));
  }
  return Resolve(rel);
}

}  // namespace kiln::snapshotter::internal
