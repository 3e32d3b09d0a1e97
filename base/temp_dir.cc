#include "base/temp_dir.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <string_view>
#include <vector>

#include "base/fs.h"
#include "base/path.h"
#include "base/status.h"
#include "base/unique_fd.h"

namespace kiln::base {

absl::StatusOr<TempDir> TempDir::Create(std::string_view prefix, std::string_view parent) {
  std::string dir(parent);
  if (dir.empty()) {
    const char* env = std::getenv("TMPDIR");
    dir = (env != nullptr && *env != '\0') ? env : "/tmp";
  }
  std::string tmpl = dir + "/" + std::string(prefix) + "XXXXXX";
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  if (::mkdtemp(buf.data()) == nullptr) return ErrnoError("mkdtemp '" + tmpl + "'");
  return TempDir(std::string(buf.data()));
}

TempDir::~TempDir() {
  if (!path_.empty()) (void)RemoveTree(path_);
}

TempDir::TempDir(TempDir&& other) noexcept : path_(std::move(other.path_)) { other.path_.clear(); }

TempDir& TempDir::operator=(TempDir&& other) noexcept {
  if (this != &other) {
    if (!path_.empty()) (void)RemoveTree(path_);
    path_ = std::move(other.path_);
    other.path_.clear();
  }
  return *this;
}

std::string TempDir::Release() {
  std::string p = std::move(path_);
  path_.clear();
  return p;
}

absl::Status RemoveTree(const std::string& path) {
  // Refuse what can only be a mistake: "", "/", a path ending in "." or any ".." component.
  // (A test that passed "/" and ".." to a tree remover once wiped a machine's /etc and /work.)
  bool only_slashes = path.find_first_not_of('/') == std::string::npos;
  bool bad_component = false;
  for (size_t start = 0; start <= path.size();) {
    size_t end = path.find('/', start);
    if (end == std::string::npos) end = path.size();
    std::string_view part(path.data() + start, end - start);
    if (part == ".." || (part == "." && end == path.size())) bad_component = true;
    start = end + 1;
  }
  if (only_slashes || bad_component) {
    return absl::InvalidArgumentError("remove tree '" + path +
                                      "': refused; expected a path to an entry below a directory, "
                                      "without '..'");
  }
  // From the parent's fd: the last component is never followed if it is a symlink, and
  // nothing below it is either (RemoveTreeAt).
  std::string trimmed = path;
  while (trimmed.size() > 1 && trimmed.back() == '/') trimmed.pop_back();
  auto [dir, name] = SplitDirBase(trimmed);
  if (dir.empty()) dir = ".";
  UniqueFd dir_fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir_fd) {
    if (errno == ENOENT) return absl::OkStatus();
    return ErrnoError("remove tree '" + path + "': open parent");
  }
  RemoveTreeOptions options;
  options.shown_as = path;
  return RemoveTreeAt(dir_fd.get(), name, options);
}

}  // namespace kiln::base
