#include "engine/oci/layout_writer.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <functional>
#include <memory>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/fs.h"
#include "base/status.h"
#include "base/unique_fd.h"
#include "engine/oci/blob_walk.h"
#include "engine/oci/manifest.h"
#include "engine/oci/media_types.h"
#include "engine/oci/reference.h"
#include "nlohmann/json.hpp"

namespace kiln::engine::oci {

using base::AsAbsl;

namespace {

constexpr std::string_view kOciLayoutFile = R"({"imageLayoutVersion":"1.0.0"})";

std::string BlobPath(const base::Digest& d) { return "blobs/sha256/" + d.hex(); }

Descriptor IndexEntry(const Descriptor& root, const LayoutWriteOptions& options) {
  Descriptor e = root;
  if (!options.ref_name.empty()) {
    e.annotations[std::string(kAnnotationRefName)] = options.ref_name;
    e.annotations[std::string(kAnnotationContainerdImageName)] = options.ref_name;
  }
  return e;
}

std::string RefNameOf(const Descriptor& d) {
  auto it = d.annotations.find(std::string(kAnnotationRefName));
  return it == d.annotations.end() ? "" : it->second;
}

// ---- tar output (libarchive) ----

struct ArchiveDeleter {
  void operator()(archive* a) const { archive_write_free(a); }
};
struct EntryDeleter {
  void operator()(archive_entry* e) const { archive_entry_free(e); }
};

class TarOut {
 public:
  absl::Status Open(int fd) {
    a_.reset(archive_write_new());
    if (!a_) return absl::ResourceExhaustedError("archive_write_new failed");
    if (archive_write_set_format_pax_restricted(a_.get()) != ARCHIVE_OK ||
        archive_write_set_bytes_in_last_block(a_.get(), 1) != ARCHIVE_OK ||
        archive_write_open_fd(a_.get(), fd) != ARCHIVE_OK) {
      return Error("open tar output");
    }
    return absl::OkStatus();
  }

  absl::Status Dir(const std::string& name) { return Header(name, AE_IFDIR, 0755, 0); }

  absl::Status File(const std::string& name, std::string_view bytes) {
    KILN_RETURN_IF_ERROR(Header(name, AE_IFREG, 0644, static_cast<int64_t>(bytes.size())));
    return Data(bytes.data(), bytes.size());
  }

  absl::Status Blob(cache::ContentStore& store, const Descriptor& d) {
    KILN_RETURN_IF_ERROR(Header(BlobPath(d.digest), AE_IFREG, 0644, d.size));
    return internal::StreamBlob(store, d, [this](const char* p, size_t n) { return Data(p, n); });
  }

  absl::Status Close() {
    if (archive_write_close(a_.get()) != ARCHIVE_OK) return Error("finish tar output");
    return absl::OkStatus();
  }

 private:
  absl::Status Header(const std::string& name, unsigned type, int mode, int64_t size) {
    std::unique_ptr<archive_entry, EntryDeleter> e(archive_entry_new());
    archive_entry_set_pathname(e.get(), name.c_str());
    archive_entry_set_filetype(e.get(), type);
    archive_entry_set_perm(e.get(), static_cast<mode_t>(mode));
    archive_entry_set_size(e.get(), size);
    archive_entry_set_uid(e.get(), 0);
    archive_entry_set_gid(e.get(), 0);
    archive_entry_set_mtime(e.get(), 0, 0);
    if (archive_write_header(a_.get(), e.get()) != ARCHIVE_OK) {
      return Error(absl::StrCat("write tar header '", name, "'"));
    }
    return absl::OkStatus();
  }

  absl::Status Data(const char* p, size_t n) {
    while (n > 0) {
      la_ssize_t w = archive_write_data(a_.get(), p, n);
      if (w < 0) return Error("write tar data");
      p += w;
      n -= static_cast<size_t>(w);
    }
    return absl::OkStatus();
  }

  absl::Status Error(std::string_view what) {
    const char* msg = archive_error_string(a_.get());
    return absl::InternalError(
        absl::StrCat(AsAbsl(what), ": ", msg != nullptr ? msg : "libarchive error"));
  }

  std::unique_ptr<archive, ArchiveDeleter> a_;
};

absl::Status WriteLayoutTar(cache::ContentStore& store, const std::vector<Descriptor>& blobs,
                            const std::string& index_json, TarOut& tar,
                            const std::string* docker_manifest) {
  KILN_RETURN_IF_ERROR(tar.Dir("blobs/"));
  KILN_RETURN_IF_ERROR(tar.Dir("blobs/sha256/"));
  std::vector<Descriptor> sorted = blobs;
  std::sort(sorted.begin(), sorted.end(),
            [](const Descriptor& a, const Descriptor& b) { return a.digest < b.digest; });
  for (const auto& d : sorted) KILN_RETURN_IF_ERROR(tar.Blob(store, d));
  KILN_RETURN_IF_ERROR(tar.File("index.json", index_json));
  if (docker_manifest != nullptr) KILN_RETURN_IF_ERROR(tar.File("manifest.json", *docker_manifest));
  KILN_RETURN_IF_ERROR(tar.File("oci-layout", kOciLayoutFile));
  return tar.Close();
}

// ---- directory output ----

absl::Status WriteFileAt(int dirfd, const std::string& dir_path, const std::string& name,
                         const std::function<absl::Status(int fd)>& fill) {
  base::WriteFileOptions o;
  o.where = dir_path;
  return base::WriteFileAtomicallyAt(dirfd, name, fill, o);
}

absl::Status WriteAll(int fd, const char* p, size_t n, std::string_view what) {
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) return base::ErrnoError(absl::StrCat("write '", AsAbsl(what), "'"));
    p += w;
    n -= static_cast<size_t>(w);
  }
  return absl::OkStatus();
}

absl::StatusOr<base::UniqueFd> OpenOrMakeDir(int parent, const std::string& name,
                                             const std::string& shown) {
  if (::mkdirat(parent, name.c_str(), 0755) != 0 && errno != EEXIST) {
    return base::ErrnoError(absl::StrCat("mkdir '", shown, "'"));
  }
  base::UniqueFd fd(
      ::openat(parent, name.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd) return base::ErrnoError(absl::StrCat("open dir '", shown, "'"));
  return fd;
}

// Existing index.json entries other than ones named `ref_name`.
absl::StatusOr<Index> ExistingIndex(int dirfd, const std::string& dir,
                                    const std::string& ref_name) {
  Index index;
  index.media_type = std::string(kMediaTypeOciIndex);
  base::UniqueFd fd(::openat(dirfd, "index.json", O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd) {
    if (errno == ENOENT) return index;
    return base::ErrnoError(absl::StrCat("open '", dir, "/index.json'"));
  }
  std::string bytes;
  char buf[65536];
  ssize_t n;
  while ((n = ::read(fd.get(), buf, sizeof buf)) > 0) bytes.append(buf, static_cast<size_t>(n));
  if (n < 0) return base::ErrnoError(absl::StrCat("read '", dir, "/index.json'"));
  KILN_ASSIGN_OR_RETURN(Index old, ParseIndex(bytes, absl::StrCat(dir, "/index.json")));
  for (auto& d : old.manifests) {
    if (ref_name.empty() || RefNameOf(d) != ref_name) index.manifests.push_back(std::move(d));
  }
  return index;
}

}  // namespace

absl::Status WriteOciLayoutDir(cache::ContentStore& store, const Descriptor& root,
                               const std::string& dir, const LayoutWriteOptions& options) {
  KILN_ASSIGN_OR_RETURN(std::vector<Descriptor> blobs, internal::ReachableBlobs(store, root));
  KILN_RETURN_IF_ERROR(base::MkdirAll(dir, 0755));
  base::UniqueFd dirfd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dirfd) return base::ErrnoError(absl::StrCat("open dir '", dir, "'"));
  KILN_ASSIGN_OR_RETURN(base::UniqueFd blobs_fd,
                        OpenOrMakeDir(dirfd.get(), "blobs", dir + "/blobs"));
  std::string sha_dir = dir + "/blobs/sha256";
  KILN_ASSIGN_OR_RETURN(base::UniqueFd sha_fd, OpenOrMakeDir(blobs_fd.get(), "sha256", sha_dir));
  for (const auto& d : blobs) {
    struct stat st;
    if (::fstatat(sha_fd.get(), d.digest.hex().c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 &&
        S_ISREG(st.st_mode) && st.st_size == d.size) {
      continue;  // content-addressed: same name, same bytes
    }
    std::string shown = absl::StrCat(dir, "/", BlobPath(d.digest));
    KILN_RETURN_IF_ERROR(
        WriteFileAt(sha_fd.get(), dir + "/blobs/sha256", d.digest.hex(), [&](int fd) {
          return internal::StreamBlob(
              store, d, [&](const char* p, size_t n) { return WriteAll(fd, p, n, shown); });
        }));
  }
  KILN_ASSIGN_OR_RETURN(Index index, ExistingIndex(dirfd.get(), dir, options.ref_name));
  index.manifests.push_back(IndexEntry(root, options));
  std::string index_json = SerializeIndex(index);
  KILN_RETURN_IF_ERROR(WriteFileAt(dirfd.get(), dir, "oci-layout", [&](int fd) {
    return WriteAll(fd, kOciLayoutFile.data(), kOciLayoutFile.size(), dir + "/oci-layout");
  }));
  return WriteFileAt(dirfd.get(), dir, "index.json", [&](int fd) {
    return WriteAll(fd, index_json.data(), index_json.size(), dir + "/index.json");
  });
}

absl::Status WriteOciArchive(cache::ContentStore& store, const Descriptor& root, int out_fd,
                             const LayoutWriteOptions& options) {
  KILN_ASSIGN_OR_RETURN(std::vector<Descriptor> blobs, internal::ReachableBlobs(store, root));
  Index index;
  index.media_type = std::string(kMediaTypeOciIndex);
  index.manifests.push_back(IndexEntry(root, options));
  TarOut tar;
  KILN_RETURN_IF_ERROR(tar.Open(out_fd));
  return WriteLayoutTar(store, blobs, SerializeIndex(index), tar, nullptr);
}

absl::Status WriteDockerArchive(cache::ContentStore& store, const Descriptor& root, int out_fd,
                                const LayoutWriteOptions& options) {
  Descriptor chosen;
  KILN_ASSIGN_OR_RETURN(Manifest m, internal::LoadPlatformManifest(store, root, &chosen));
  KILN_ASSIGN_OR_RETURN(std::vector<Descriptor> blobs, internal::ReachableBlobs(store, chosen));
  nlohmann::json entry = nlohmann::json::object();
  entry["Config"] = BlobPath(m.config.digest);
  entry["RepoTags"] = nlohmann::json::array();
  if (!options.ref_name.empty()) {
    KILN_ASSIGN_OR_RETURN(Reference ref, NormalizeReference(options.ref_name));
    if (!ref.tag.empty()) {
      Reference tagged = ref;
      tagged.digest.clear();
      entry["RepoTags"].push_back(tagged.Familiar());
    }
  }
  entry["Layers"] = nlohmann::json::array();
  for (const auto& l : m.layers) entry["Layers"].push_back(BlobPath(l.digest));
  std::string docker_manifest = nlohmann::json::array({entry}).dump();
  Index index;
  index.media_type = std::string(kMediaTypeOciIndex);
  index.manifests.push_back(IndexEntry(chosen, options));
  TarOut tar;
  KILN_RETURN_IF_ERROR(tar.Open(out_fd));
  return WriteLayoutTar(store, blobs, SerializeIndex(index), tar, &docker_manifest);
}

}  // namespace kiln::engine::oci
