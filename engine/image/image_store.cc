#include "engine/image/image_store.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "base/fs.h"
#include "base/status.h"
#include "engine/oci/manifest.h"
#include "engine/oci/media_types.h"
#include "engine/oci/reference.h"

namespace kiln::engine::image {

namespace {

constexpr char kIndexFile[] = "index.json";
constexpr char kCreatedAnnotation[] = "kiln.image.created";

absl::StatusOr<std::string> NormalizeRef(std::string_view ref) {
  KILN_ASSIGN_OR_RETURN(oci::Reference r, oci::NormalizeReference(ref));
  return r.String();
}

// An exclusive flock on <root>/lock, released on destruction.
class FileLock {
 public:
  static absl::StatusOr<FileLock> Take(int dirfd, const std::string& root) {
    base::UniqueFd fd(::openat(dirfd, "lock", O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644));
    if (!fd) return base::ErrnoError(absl::StrCat("open '", root, "/lock'"));
    while (::flock(fd.get(), LOCK_EX) != 0) {
      if (errno != EINTR) return base::ErrnoError(absl::StrCat("flock '", root, "/lock'"));
    }
    return FileLock(std::move(fd));
  }

 private:
  explicit FileLock(base::UniqueFd fd) : fd_(std::move(fd)) {}
  base::UniqueFd fd_;  // closing releases the lock
};

absl::StatusOr<std::string> ReadFileAt(int dirfd, const char* name, const std::string& shown) {
  base::UniqueFd fd(::openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd) return base::ErrnoError(absl::StrCat("open '", shown, "'"));
  return base::ReadAll(fd.get(), shown);
}

}  // namespace

absl::StatusOr<std::unique_ptr<ImageStore>> ImageStore::Open(const std::string& root,
                                                             cache::ContentStore* content) {
  KILN_RETURN_IF_ERROR(base::MkdirAll(root, 0755));
  base::UniqueFd dir(::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir) return base::ErrnoError(absl::StrCat("open image store '", root, "'"));
  return std::unique_ptr<ImageStore>(new ImageStore(root, std::move(dir), content));
}

absl::StatusOr<std::vector<ImageRecord>> ImageStore::LoadLocked() {
  std::string shown = absl::StrCat(root_, "/", kIndexFile);
  auto bytes = ReadFileAt(dir_.get(), kIndexFile, shown);
  if (!bytes.ok() && absl::IsNotFound(bytes.status())) return std::vector<ImageRecord>{};
  if (!bytes.ok()) return bytes.status();
  auto index = oci::ParseIndex(*bytes, shown);
  if (!index.ok()) return absl::DataLossError(index.status().message());
  std::vector<ImageRecord> out;
  for (auto& d : index->manifests) {
    ImageRecord r;
    auto name = d.annotations.find(std::string(oci::kAnnotationRefName));
    if (name == d.annotations.end()) {
      return absl::DataLossError(absl::StrCat(shown, ": an entry has no ref name"));
    }
    r.ref = name->second;
    auto created = d.annotations.find(kCreatedAnnotation);
    if (created == d.annotations.end() ||
        !absl::ParseTime(absl::RFC3339_full, created->second, &r.created, nullptr)) {
      r.created = absl::UnixEpoch();
    }
    d.annotations.erase(std::string(oci::kAnnotationRefName));
    d.annotations.erase(kCreatedAnnotation);
    r.target = std::move(d);
    out.push_back(std::move(r));
  }
  return out;
}

absl::Status ImageStore::SaveLocked(const std::vector<ImageRecord>& records) {
  oci::Index index;
  index.media_type = std::string(oci::kMediaTypeOciIndex);
  for (const auto& r : records) {
    oci::Descriptor d = r.target;
    d.annotations[std::string(oci::kAnnotationRefName)] = r.ref;
    d.annotations[kCreatedAnnotation] =
        absl::FormatTime(absl::RFC3339_full, r.created, absl::UTCTimeZone());
    index.manifests.push_back(std::move(d));
  }
  base::WriteFileOptions o;
  o.sync_dir = true;
  o.where = root_;
  return base::WriteFileAtomicallyAt(dir_.get(), kIndexFile, oci::SerializeIndex(index), o);
}

absl::Status ImageStore::PutLocked(const std::string& ref, const oci::Descriptor& target) {
  if (!content_->Has(target.digest)) {
    return absl::NotFoundError(absl::StrCat("store image '", ref, "': manifest ",
                                            target.digest.str(), " is not in the content store"));
  }
  KILN_ASSIGN_OR_RETURN(FileLock lock, FileLock::Take(dir_.get(), root_));
  KILN_ASSIGN_OR_RETURN(std::vector<ImageRecord> records, LoadLocked());
  auto it =
      std::find_if(records.begin(), records.end(), [&](const auto& r) { return r.ref == ref; });
  if (it != records.end() && it->target.digest == target.digest &&
      it->target.media_type == target.media_type && it->target.size == target.size) {
    return absl::OkStatus();  // unchanged (a no-op rebuild): keep the entry and its time
  }
  ImageRecord record{ref, target, absl::Now()};
  record.target.annotations.clear();
  if (it != records.end()) {
    *it = std::move(record);
  } else {
    records.push_back(std::move(record));
    std::sort(records.begin(), records.end(),
              [](const auto& a, const auto& b) { return a.ref < b.ref; });
  }
  KILN_RETURN_IF_ERROR(SaveLocked(records));
  version_.fetch_add(1, std::memory_order_acq_rel);
  return absl::OkStatus();
}

absl::Status ImageStore::Put(std::string_view ref, const oci::Descriptor& target) {
  KILN_ASSIGN_OR_RETURN(std::string normalized, NormalizeRef(ref));
  absl::MutexLock lock(&mu_);
  return PutLocked(normalized, target);
}

absl::StatusOr<ImageRecord> ImageStore::Get(std::string_view ref) {
  KILN_ASSIGN_OR_RETURN(std::string normalized, NormalizeRef(ref));
  KILN_ASSIGN_OR_RETURN(std::vector<ImageRecord> records, List());
  for (auto& r : records) {
    if (r.ref == normalized) return std::move(r);
  }
  return absl::NotFoundError(absl::StrCat("image '", normalized, "' not found"));
}

absl::StatusOr<std::vector<ImageRecord>> ImageStore::List() {
  absl::ReaderMutexLock lock(&mu_);
  return LoadLocked();
}

absl::Status ImageStore::Remove(std::string_view ref) {
  KILN_ASSIGN_OR_RETURN(std::string normalized, NormalizeRef(ref));
  absl::MutexLock lock(&mu_);
  KILN_ASSIGN_OR_RETURN(FileLock flock, FileLock::Take(dir_.get(), root_));
  KILN_ASSIGN_OR_RETURN(std::vector<ImageRecord> records, LoadLocked());
  auto it = std::find_if(records.begin(), records.end(),
                         [&](const auto& r) { return r.ref == normalized; });
  if (it == records.end()) {
    return absl::NotFoundError(absl::StrCat("remove image '", normalized, "': not found"));
  }
  records.erase(it);
  return SaveLocked(records);
}

absl::Status ImageStore::MarkReachable(absl::flat_hash_set<base::Digest>* live) {
  KILN_ASSIGN_OR_RETURN(std::vector<ImageRecord> records, List());
  std::vector<oci::Descriptor> pending;
  for (auto& r : records) pending.push_back(std::move(r.target));
  while (!pending.empty()) {
    oci::Descriptor d = std::move(pending.back());
    pending.pop_back();
    if (!live->insert(d.digest).second) continue;
    bool index = oci::IsIndexMediaType(d.media_type);
    if (!index && !oci::IsManifestMediaType(d.media_type)) continue;
    absl::StatusOr<std::string> json = content_->ReadAll(d.digest);
    if (!json.ok()) continue;
    if (index) {
      absl::StatusOr<oci::Index> i = oci::ParseIndex(*json);
      if (i.ok()) pending.insert(pending.end(), i->manifests.begin(), i->manifests.end());
      continue;
    }
    absl::StatusOr<oci::Manifest> m = oci::ParseManifest(*json);
    if (!m.ok()) continue;
    pending.push_back(m->config);
    pending.insert(pending.end(), m->layers.begin(), m->layers.end());
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<ImageRecord>> ImageStore::Import(const std::string& path,
                                                            const ImportOptions& options) {
  KILN_ASSIGN_OR_RETURN(std::vector<ImportedImage> images, ImportImages(*content_, path, options));
  std::vector<ImageRecord> out;
  for (const auto& img : images) {
    for (const auto& ref : img.refs) {
      KILN_RETURN_IF_ERROR(Put(ref, img.manifest));
      KILN_ASSIGN_OR_RETURN(ImageRecord r, Get(ref));
      out.push_back(std::move(r));
    }
  }
  return out;
}

}  // namespace kiln::engine::image
