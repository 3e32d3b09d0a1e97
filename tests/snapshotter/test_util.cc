#include "tests/snapshotter/test_util.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <filesystem>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/status.h"
#include "base/unique_fd.h"

namespace kiln::snapshotter::testing {

std::string NewDir(std::string_view hint) {
  static std::atomic<int> counter{0};
  std::string path =
      absl::StrCat(TestRoot(), "/", base::AsAbsl(hint), "-", counter.fetch_add(1));
  ::mkdir(path.c_str(), 0755);
  return path;
}

absl::StatusOr<base::ScopedMount> MountOn(const std::vector<base::Mount>& mounts,
                                          const std::string& target) {
  if (mounts.size() != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("test helper mounts exactly one mount, got ", mounts.size()));
  }
  KILN_RETURN_IF_ERROR(base::MountAt(mounts[0], target));
  return base::ScopedMount(target);
}

absl::Status WriteFile(const std::string& path, std::string_view content, mode_t mode) {
  base::UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode));
  if (!fd) return base::ErrnoError(absl::StrCat("create '", path, "'"));
  if (::write(fd.get(), content.data(), content.size()) != static_cast<ssize_t>(content.size())) {
    return base::ErrnoError(absl::StrCat("write '", path, "'"));
  }
  if (::fchmod(fd.get(), mode) != 0) return base::ErrnoError(absl::StrCat("chmod '", path, "'"));
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  base::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return base::ErrnoError(absl::StrCat("open '", path, "'"));
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fd.get(), buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  if (n < 0) return base::ErrnoError(absl::StrCat("read '", path, "'"));
  return out;
}

absl::StatusOr<std::map<std::string, std::string>> ReadTree(const std::string& root) {
  std::map<std::string, std::string> out;
  std::error_code ec;
  std::filesystem::recursive_directory_iterator it(root, ec), end;
  for (; !ec && it != end; it.increment(ec)) {
    std::string path = it->path().string();
    std::string rel = path.substr(root.size() + 1);
    struct stat st;
    if (::lstat(path.c_str(), &st) != 0) return base::ErrnoError(absl::StrCat("lstat '", path, "'"));
    std::string mode = absl::StrFormat("%04o", st.st_mode & 07777);
    if (S_ISDIR(st.st_mode)) {
      out[rel] = "dir " + mode;
    } else if (S_ISREG(st.st_mode)) {
      KILN_ASSIGN_OR_RETURN(std::string content, ReadFile(path));
      out[rel] = absl::StrCat("file ", mode, " ", content);
    } else if (S_ISLNK(st.st_mode)) {
      out[rel] = "link " + std::filesystem::read_symlink(it->path(), ec).string();
    } else if (S_ISFIFO(st.st_mode)) {
      out[rel] = "fifo " + mode;
    } else if (S_ISCHR(st.st_mode)) {
      out[rel] = absl::StrCat("chr ", major(st.st_rdev), "/", minor(st.st_rdev));
    } else {
      out[rel] = "other";
    }
  }
  if (ec) return base::ErrnoError(ec.value(), absl::StrCat("walk '", root, "'"));
  return out;
}

}  // namespace kiln::snapshotter::testing
