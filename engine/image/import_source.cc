#include "engine/image/import_source.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <unistd.h>

#include <map>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/fs.h"
#include "base/path.h"
#include "base/status.h"
#include "base/unique_fd.h"

namespace kiln::engine::image::internal {

using base::AsAbsl;

namespace {

constexpr size_t kCacheFileLimit = 1 << 20;  // tar files this small are kept from pass 1

// "./a//b/../c" -> "a/c"; empty for names that would leave the root. Absolute names count
// from the root.
std::string CleanName(std::string_view name) {
  absl::StatusOr<std::string> clean = base::CleanBeneath(name);
  return clean.ok() ? *std::move(clean) : "";
}

class DirSource final : public ImportSource {
 public:
  DirSource(std::string path, base::UniqueFd fd) : path_(std::move(path)), fd_(std::move(fd)) {}

  bool Exists(std::string_view name) override {
    auto fd = Open(name);
    if (!fd.ok()) return false;
    struct stat st;
    return ::fstat(fd->get(), &st) == 0 && S_ISREG(st.st_mode);
  }

  absl::StatusOr<std::string> ReadSmall(std::string_view name, size_t max_size) override {
    KILN_ASSIGN_OR_RETURN(base::UniqueFd fd, Open(name));
    std::string out;
    char buf[65536];
    while (true) {
      ssize_t n = ::read(fd.get(), buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return base::ErrnoError(absl::StrCat("read '", path_, "/", AsAbsl(name), "'"));
      if (n == 0) break;
      out.append(buf, static_cast<size_t>(n));
      if (out.size() > max_size) {
        return absl::InvalidArgumentError(absl::StrCat("read '", path_, "/", AsAbsl(name),
                                                       "': larger than ", max_size, " bytes"));
      }
    }
    return out;
  }

  absl::Status Stream(
      const std::set<std::string>& names,
      const std::function<absl::Status(const std::string&, const ChunkReader&)>& fn) override {
    for (const auto& name : names) {
      KILN_ASSIGN_OR_RETURN(base::UniqueFd fd, Open(name));
      std::string shown = absl::StrCat(path_, "/", name);
      ChunkReader read = [&](char* buf, size_t len) -> absl::StatusOr<size_t> {
        while (true) {
          ssize_t n = ::read(fd.get(), buf, len);
          if (n < 0 && errno == EINTR) continue;
          if (n < 0) return base::ErrnoError(absl::StrCat("read '", shown, "'"));
          return static_cast<size_t>(n);
        }
      };
      KILN_RETURN_IF_ERROR(fn(name, read));
    }
    return absl::OkStatus();
  }

  std::string Canonical(std::string_view name) override { return CleanName(name); }

  const std::string& path() const override { return path_; }

 private:
  absl::StatusOr<base::UniqueFd> Open(std::string_view name) {
    std::string clean = CleanName(name);
    if (clean.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("open '", path_, "/", AsAbsl(name), "': path leaves the image directory"));
    }
    int fd = base::OpenAt2(fd_.get(), clean, O_RDONLY, 0, base::kResolveInRoot | RESOLVE_NO_XDEV);
    if (fd < 0) return base::ErrnoError(absl::StrCat("open '", path_, "/", clean, "'"));
    return base::UniqueFd(fd);
  }

  std::string path_;
  base::UniqueFd fd_;
};

struct ArchiveReadDeleter {
  void operator()(archive* a) const { archive_read_free(a); }
};
using ArchivePtr = std::unique_ptr<archive, ArchiveReadDeleter>;

class TarSource final : public ImportSource {
 public:
  explicit TarSource(std::string path) : path_(std::move(path)) {}

  // Pass 1: lists regular files and caches the small ones.
  absl::Status Index() {
    return Walk([&](const std::string& name, archive* a, archive_entry* e) -> absl::Status {
      int64_t size = archive_entry_size(e);
      sizes_[name] = size;
      if (size >= 0 && static_cast<size_t>(size) <= kCacheFileLimit) {
        KILN_ASSIGN_OR_RETURN(std::string bytes, ReadEntry(a, name, kCacheFileLimit));
        cache_[name] = std::move(bytes);
      }
      return absl::OkStatus();
    });
  }

  bool Exists(std::string_view name) override { return sizes_.contains(Canonical(name)); }

  std::string Canonical(std::string_view name) override {
    std::string clean = CleanName(name);
    for (int hops = 0; hops < 16; ++hops) {
      auto it = links_.find(clean);
      if (it == links_.end()) break;
      clean = it->second;
    }
    return clean;
  }

  absl::StatusOr<std::string> ReadSmall(std::string_view name, size_t max_size) override {
    std::string clean = Canonical(name);
    auto it = sizes_.find(clean);
    if (it == sizes_.end()) return Missing(clean);
    if (it->second > static_cast<int64_t>(max_size)) {
      return absl::InvalidArgumentError(
          absl::StrCat("read '", path_, ":", clean, "': larger than ", max_size, " bytes"));
    }
    if (auto c = cache_.find(clean); c != cache_.end()) return c->second;
    std::string out;
    KILN_RETURN_IF_ERROR(
        Walk([&](const std::string& n, archive* a, archive_entry*) -> absl::Status {
          if (n != clean) return absl::OkStatus();
          KILN_ASSIGN_OR_RETURN(out, ReadEntry(a, n, max_size));
          return absl::OkStatus();
        }));
    return out;
  }

  absl::Status Stream(
      const std::set<std::string>& names,
      const std::function<absl::Status(const std::string&, const ChunkReader&)>& fn) override {
    for (const auto& n : names) {
      if (!sizes_.contains(Canonical(n))) return Missing(Canonical(n));
    }
    // Callers pass canonical names; a name given twice under two aliases is read once.
    std::set<std::string> pending;
    for (const auto& n : names) pending.insert(Canonical(n));
    return Walk([&](const std::string& name, archive* a, archive_entry*) -> absl::Status {
      if (pending.erase(name) == 0) return absl::OkStatus();
      ChunkReader read = [&, a](char* buf, size_t len) -> absl::StatusOr<size_t> {
        la_ssize_t n = archive_read_data(a, buf, len);
        if (n < 0) return Error(a, absl::StrCat("read '", path_, ":", name, "'"));
        return static_cast<size_t>(n);
      };
      return fn(name, read);
    });
  }

  const std::string& path() const override { return path_; }

 private:
  absl::Status Missing(const std::string& name) {
    return absl::NotFoundError(
        absl::StrCat("read '", path_, "': archive has no file '", name, "'"));
  }

  absl::Status Error(archive* a, std::string_view what) {
    const char* msg = archive_error_string(a);
    return absl::InvalidArgumentError(
        absl::StrCat(AsAbsl(what), ": ", msg != nullptr ? msg : "malformed archive"));
  }

  absl::StatusOr<std::string> ReadEntry(archive* a, const std::string& name, size_t max) {
    std::string out;
    char buf[65536];
    while (true) {
      la_ssize_t n = archive_read_data(a, buf, sizeof buf);
      if (n < 0) return Error(a, absl::StrCat("read '", path_, ":", name, "'"));
      if (n == 0) break;
      out.append(buf, static_cast<size_t>(n));
      if (out.size() > max) {
        return absl::InvalidArgumentError(
            absl::StrCat("read '", path_, ":", name, "': larger than ", max, " bytes"));
      }
    }
    return out;
  }

  // Calls fn for every regular file entry, with its cleaned name.
  absl::Status Walk(
      const std::function<absl::Status(const std::string&, archive*, archive_entry*)>& fn) {
    ArchivePtr a(archive_read_new());
    if (!a) return absl::ResourceExhaustedError("archive_read_new failed");
    archive_read_support_format_tar(a.get());
    archive_read_support_format_gnutar(a.get());
    archive_read_support_filter_gzip(a.get());
    archive_read_support_filter_zstd(a.get());
    if (archive_read_open_filename(a.get(), path_.c_str(), 1 << 20) != ARCHIVE_OK) {
      return Error(a.get(), absl::StrCat("open archive '", path_, "'"));
    }
    archive_entry* e = nullptr;
    while (true) {
      int r = archive_read_next_header(a.get(), &e);
      if (r == ARCHIVE_EOF) break;
      if (r != ARCHIVE_OK && r != ARCHIVE_WARN) {
        return Error(a.get(), absl::StrCat("read archive '", path_, "'"));
      }
      const char* raw = archive_entry_pathname(e);
      std::string name = CleanName(raw != nullptr ? raw : "");
      if (name.empty()) continue;
      if (const char* hard = archive_entry_hardlink(e); hard != nullptr) {
        links_[name] = CleanName(hard);  // hardlink targets are archive paths
        continue;
      }
      if (archive_entry_filetype(e) == AE_IFLNK) {
        const char* target = archive_entry_symlink(e);
        if (target != nullptr && target[0] != '/') {
          size_t slash = name.rfind('/');
          std::string dir = slash == std::string::npos ? "" : name.substr(0, slash + 1);
          std::string resolved = CleanName(dir + target);
          if (!resolved.empty()) links_[name] = resolved;
        }
        continue;
      }
      if (archive_entry_filetype(e) != AE_IFREG) continue;
      KILN_RETURN_IF_ERROR(fn(name, a.get(), e));
    }
    return absl::OkStatus();
  }

  std::string path_;
  std::map<std::string, int64_t> sizes_;
  std::map<std::string, std::string> links_;  // symlink / hardlink name -> target name
  std::map<std::string, std::string> cache_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<ImportSource>> OpenImportSource(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return base::ErrnoError(absl::StrCat("import '", path, "'"));
  if (S_ISDIR(st.st_mode)) {
    base::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!fd) return base::ErrnoError(absl::StrCat("open '", path, "'"));
    return std::unique_ptr<ImportSource>(new DirSource(path, std::move(fd)));
  }
  if (!S_ISREG(st.st_mode)) {
    return absl::InvalidArgumentError(
        absl::StrCat("import '", path, "': not a directory or a tar file"));
  }
  auto tar = std::make_unique<TarSource>(path);
  KILN_RETURN_IF_ERROR(tar->Index());
  return std::unique_ptr<ImportSource>(std::move(tar));
}

}  // namespace kiln::engine::image::internal
