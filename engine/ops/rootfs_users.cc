#include "engine/ops/rootfs_users.h"

#include <fcntl.h>
#include <unistd.h>

#include <optional>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "base/fs.h"
#include "base/status.h"
#include "base/unique_fd.h"

namespace kiln::engine {
namespace {

// The file at `path` inside the root, or "" when it cannot be read or is over 4 MiB.
std::string ReadInRoot(int root_fd, const char* path) {
  absl::StatusOr<base::UniqueFd> fd = base::OpenInRoot(root_fd, path, O_RDONLY);
  if (!fd.ok()) return "";
  absl::StatusOr<std::string> text = base::ReadAll(fd->get(), path, size_t{1} << 22);
  return text.ok() ? *std::move(text) : "";
}

// Finds `name` in a passwd/group-format file: returns fields of the matching line.
std::optional<std::vector<std::string>> FindEntry(const std::string& content, std::string_view name) {
  for (absl::string_view line : absl::StrSplit(content, '\n')) {
    std::vector<std::string> f = absl::StrSplit(line, ':');
    if (f.size() >= 3 && f[0] == name) return f;
  }
  return std::nullopt;
}

}  // namespace

absl::StatusOr<Owner> ResolveOwner(int root_fd, std::string_view spec) {
  std::string s(spec);
  std::string user = s, group;
  if (size_t colon = s.find(':'); colon != std::string::npos) {
    user = s.substr(0, colon);
    group = s.substr(colon + 1);
  }
  Owner o;
  uint32_t num = 0;
  bool user_numeric = absl::SimpleAtoi(user, &num);
  std::optional<gid_t> primary;
  if (user_numeric) {
    o.uid = num;
  } else {
    auto e = FindEntry(ReadInRoot(root_fd, "/etc/passwd"), user);
    if (!e || e->size() < 4 || !absl::SimpleAtoi((*e)[2], &num)) {
      return absl::InvalidArgumentError(
          absl::StrCat("chown '", s, "': unknown user '", user, "' in the image's /etc/passwd"));
    }
    o.uid = num;
    uint32_t g = 0;
    if (absl::SimpleAtoi((*e)[3], &g)) primary = g;
  }
  if (group.empty()) {
    o.gid = primary.value_or(o.uid);
  } else if (absl::SimpleAtoi(group, &num)) {
    o.gid = num;
  } else {
    auto e = FindEntry(ReadInRoot(root_fd, "/etc/group"), group);
    if (!e || !absl::SimpleAtoi((*e)[2], &num)) {
      return absl::InvalidArgumentError(
          absl::StrCat("chown '", s, "': unknown group '", group, "' in the image's /etc/group"));
    }
    o.gid = num;
  }
  return o;
}

}  // namespace kiln::engine
