// Reading the Dockerfile and its ignore file through fds (build_files.h).
#include "engine/core/build_files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "base/fs.h"
#include "base/status.h"
#include "base/unique_fd.h"
#include "engine/frontend/dockerignore.h"

namespace kiln::engine {
namespace {

// A file opened below a directory fd, with the path it really is.
struct OpenedFile {
  base::UniqueFd fd;
  std::string path;
};

// Opens `rel` below `dirfd` for reading; links are followed only while they stay below it
// (RESOLVE_BENEATH: leaving gives EXDEV). Returns the errno on failure.
int OpenBeneath(int dirfd, const std::string& rel, OpenedFile* out) {
  const int fd =
      base::OpenAt2(dirfd, rel, O_RDONLY | O_NOCTTY | O_NONBLOCK, 0, base::kResolveBeneath);
  if (fd < 0) return errno;
  out->fd = base::UniqueFd(fd);
  char buf[PATH_MAX];
  const std::string proc = absl::StrCat("/proc/self/fd/", fd);
  const ssize_t n = ::readlink(proc.c_str(), buf, sizeof(buf) - 1);
  if (n < 0) return errno;
  out->path.assign(buf, static_cast<size_t>(n));
  return 0;
}

absl::StatusOr<base::UniqueFd> OpenDir(const std::string& dir, const char* what) {
  if (dir.empty() || dir[0] != '/') {
    return absl::InvalidArgumentError(
        absl::StrCat("open ", what, " '", dir, "': expected an absolute path"));
  }
  const int fd = ::open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return base::ErrnoError(absl::StrCat("open ", what, " '", dir, "'"));
  return base::UniqueFd(fd);
}

absl::StatusOr<std::string> ReadAll(int fd, const std::string& what) {
  struct stat st;
  if (::fstat(fd, &st) != 0) return base::ErrnoError(absl::StrCat("stat ", what));
  if (!S_ISREG(st.st_mode)) {
    return absl::InvalidArgumentError(absl::StrCat("read ", what, ": not a regular file"));
  }
  std::string text;
  char buf[65536];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return base::ErrnoError(absl::StrCat("read ", what));
    if (n == 0) return text;
    text.append(buf, static_cast<size_t>(n));
  }
}

// Reads an ignore file `rel` below `dirfd`. nullopt when it is absent, not a regular file, or
// a link leading out of the directory.
absl::StatusOr<std::optional<std::string>> ReadIgnore(int dirfd, const std::string& rel,
                                                      std::string* path) {
  OpenedFile f;
  if (int err = OpenBeneath(dirfd, rel, &f); err != 0) {
    if (err == ENOENT || err == EXDEV || err == ENOTDIR || err == ELOOP) return std::nullopt;
    return base::ErrnoError(err, absl::StrCat("open ignore file '", rel, "'"));
  }
  struct stat st;
  if (::fstat(f.fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) return std::nullopt;
  KILN_ASSIGN_OR_RETURN(std::string text,
                        ReadAll(f.fd.get(), absl::StrCat("ignore file '", rel, "'")));
  *path = std::move(f.path);
  return std::optional<std::string>(std::move(text));
}

// ContextIdentity of the directory `fd`, opened as `dir`.
absl::StatusOr<std::string> IdentityOf(int fd, const std::string& dir) {
  struct stat st;
  if (::fstat(fd, &st) != 0) return base::ErrnoError(absl::StrCat("stat context '", dir, "'"));
  return absl::StrCat(static_cast<uint64_t>(st.st_dev), ":", static_cast<uint64_t>(st.st_ino), ":",
                      dir);
}

}  // namespace

absl::StatusOr<std::string> ContextIdentity(const std::string& context_dir) {
  KILN_ASSIGN_OR_RETURN(base::UniqueFd ctx, OpenDir(context_dir, "context"));
  return IdentityOf(ctx.get(), context_dir);
}

absl::Status CheckDockerfileName(std::string_view name) {
  bool ok = !name.empty() && name[0] != '/';
  for (absl::string_view part : absl::StrSplit(absl::string_view(name.data(), name.size()), '/')) {
    ok = ok && part != "..";
  }
  if (ok) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("filename '", base::AsAbsl(name),
                   "': must be a name inside the dockerfile directory (no leading '/', no '..')"));
}

absl::StatusOr<BuildFiles> ReadBuildFiles(const std::string& context_dir,
                                          const std::string& dockerfile_dir,
                                          const std::string& name_in) {
  const std::string name = name_in.empty() ? "Dockerfile" : name_in;
  KILN_RETURN_IF_ERROR(CheckDockerfileName(name));
  const std::string& df_dir = dockerfile_dir.empty() ? context_dir : dockerfile_dir;
  KILN_ASSIGN_OR_RETURN(base::UniqueFd ctx, OpenDir(context_dir, "context"));
  KILN_ASSIGN_OR_RETURN(base::UniqueFd dfd, OpenDir(df_dir, "dockerfile directory"));
  BuildFiles out;
  KILN_ASSIGN_OR_RETURN(out.context_id, IdentityOf(ctx.get(), context_dir));
  OpenedFile f;
  const std::string what = absl::StrCat("Dockerfile '", name, "'");
  if (int err = OpenBeneath(dfd.get(), name, &f); err != 0) {
    if (err == EXDEV) {
      return absl::PermissionDeniedError(
          absl::StrCat("read ", what, ": the name leads outside '", df_dir, "'"));
    }
    return base::ErrnoError(err, absl::StrCat("read ", what));
  }
  KILN_ASSIGN_OR_RETURN(out.dockerfile_text, ReadAll(f.fd.get(), what));
  out.dockerfile_path = std::move(f.path);
  // BuildKit: <dockerfile name>.dockerignore next to the Dockerfile, else the context's.
  KILN_ASSIGN_OR_RETURN(std::optional<std::string> ignore,
                        ReadIgnore(dfd.get(), name + ".dockerignore", &out.ignore_path));
  if (!ignore) {
    KILN_ASSIGN_OR_RETURN(ignore, ReadIgnore(ctx.get(), ".dockerignore", &out.ignore_path));
  }
  if (ignore) out.excludes = ReadDockerignore(*ignore);
  return out;
}

}  // namespace kiln::engine
