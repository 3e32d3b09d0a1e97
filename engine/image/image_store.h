// ImageStore: the local image store. A table of references ("docker.io/library/busybox:1.35")
// to image descriptors, over a ContentStore that holds the blobs.
//
// Persistence: <root>/index.json, an OCI image index whose entries carry the reference in
// "org.opencontainers.image.ref.name" and the time it was stored in "kiln.image.created".
// Every change is read-modify-write under an flock on <root>/lock and published by writing a
// temp file, fsync, rename and fsync of the directory, so a crash leaves the old or the new
// table, and several processes may share a root. Storing a ref at the target it already has
// writes nothing (its "created" time stays that of the first store).
// GC: the store writes no labels. Its refs are GC roots: MarkReachable adds every blob a
// stored image reaches, and version() changes after every Put that changes the table (see
// cache::GcReferences). Remove drops the ref only; GC deletes the blobs nobody reaches.
//
// Thread-safe; the ContentStore must outlive the ImageStore.
// Error codes: NotFound (unknown ref, missing blob), InvalidArgument (bad reference, bad input
// file), DataLoss (digest mismatch on import, corrupt index.json), errno-based I/O errors.
#ifndef KILN_ENGINE_IMAGE_IMAGE_STORE_H_
#define KILN_ENGINE_IMAGE_IMAGE_STORE_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "base/unique_fd.h"
#include "cache/content_store.h"
#include "cache/verify.h"
#include "engine/image/importer.h"
#include "engine/oci/descriptor.h"
#include "engine/oci/platform_image.h"

namespace kiln::engine::image {

struct ImageRecord {
  std::string ref;         // normalized
  oci::Descriptor target;  // the manifest (or index) descriptor
  absl::Time created;      // when the ref was stored
};

class ImageStore {
 public:
  // Opens the store at `root` (created if missing). `content` is not owned.
  static absl::StatusOr<std::unique_ptr<ImageStore>> Open(const std::string& root,
                                                          cache::ContentStore* content);

  // Points `ref` (normalized first) at `target`, replacing an older entry. The target blob
  // must be in the content store (NotFound otherwise). Bumps version() when the table changes.
  absl::Status Put(std::string_view ref, const oci::Descriptor& target);
  // NotFound "image 'ref' not found" when absent. `ref` is normalized.
  absl::StatusOr<ImageRecord> Get(std::string_view ref);
  // All records, sorted by ref.
  absl::StatusOr<std::vector<ImageRecord>> List();
  // Drops `ref`. NotFound when absent.
  absl::Status Remove(std::string_view ref);
  // Imports an OCI layout dir, oci-archive or docker-archive (see importer.h) and stores a
  // ref for every name it carries. Returns the records written.
  absl::StatusOr<std::vector<ImageRecord>> Import(const std::string& path,
                                                  const ImportOptions& options = {});

  // The one way to read a stored image: finds `ref` ("name[:tag]", or "name@sha256:.." naming
  // a stored target or one platform manifest of a stored index), then reads index ->
  // `platform` -> manifest -> config (oci::ReadPlatformImage). NotFound naming the ref (and how
  // to get it) when it is not stored; the reader's errors otherwise. Defined in
  // store_resolver.cc.
  absl::StatusOr<oci::PlatformImage> Resolve(std::string_view ref, const oci::Platform& platform);
  // The same for a record already at hand (e.g. from List()).
  absl::StatusOr<oci::PlatformImage> Resolve(const ImageRecord& record,
                                             const oci::Platform& platform);

  // Adds to `live` every blob a stored image reaches: index -> manifests -> config + layers.
  // A missing or unparsable document is skipped (what it would reach stays unmarked).
  absl::Status MarkReachable(absl::flat_hash_set<base::Digest>* live);
  // Checks every ref against the blobs it reaches: its target, and through indexes and
  // manifests every config and layer, must be in the content store and every index or
  // manifest must parse. With `repair`, a ref that fails is removed (its image must be pulled,
  // imported or built again); blobs are left to GC. Defined in image_verify.cc.
  absl::StatusOr<cache::VerifyOutcome> Verify(bool repair);
  // Bumped after each Put that changes the table (never decreases).
  uint64_t version() const { return version_.load(std::memory_order_acquire); }

  cache::ContentStore& content() { return *content_; }
  const std::string& root() const { return root_; }

 private:
  ImageStore(std::string root, base::UniqueFd dir, cache::ContentStore* content)
      : root_(std::move(root)), dir_(std::move(dir)), content_(content) {}

  absl::StatusOr<std::vector<ImageRecord>> LoadLocked() ABSL_SHARED_LOCKS_REQUIRED(mu_);
  absl::Status SaveLocked(const std::vector<ImageRecord>& records)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status PutLocked(const std::string& ref, const oci::Descriptor& target)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::string root_;
  const base::UniqueFd dir_;
  cache::ContentStore* const content_;
  absl::Mutex mu_;  // serializes this process's table updates (flock covers other processes)
  std::atomic<uint64_t> version_{0};
};

}  // namespace kiln::engine::image

#endif  // KILN_ENGINE_IMAGE_IMAGE_STORE_H_
