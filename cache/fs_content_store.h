// FsContentStore: the ContentStore on a local filesystem (see content_store.h for the contract).
//
// Layout under `root` (OCI image-layout compatible for blobs):
//   root/blobs/sha256/<hex>   committed blobs, mode 0444, never modified in place
//   root/ingest/<random>      in-progress writers; each holds an flock on its file, so files
//                             whose lock can be taken at open time belong to dead writers and
//                             are removed
//   root/meta/                LMDB environment: digest -> {created, last used, labels}
// Commit: verify digest, fsync the temp file, renameat2(RENAME_NOREPLACE) into blobs/ (so the
// first writer wins and a later one just drops its temp), fsync the dir, then record metadata.
// A crash before the rename leaves only an ingest file (cleaned on next open); a crash between
// the rename and the metadata write leaves a valid blob with no labels, whose created/last-used
// times fall back to the file's mtime.
// Labels: Commit and SetLabels MERGE into the existing labels; a label set to "" is removed.
// Several processes may share one root (LMDB and rename are multi-process safe), but a process
// must open a given root only once at a time (an LMDB rule).
// Thread-safe. Error codes: NotFound (absent blob), DataLoss (digest mismatch, corrupt meta),
// FailedPrecondition (writer already committed), others from errno.
#ifndef KILN_CACHE_FS_CONTENT_STORE_H_
#define KILN_CACHE_FS_CONTENT_STORE_H_

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "cache/content_store.h"

namespace kiln::cache {

struct FsContentStoreOptions {
  // Time source for created/last-used stamps (tests inject a fake clock). Default: absl::Now.
  std::function<absl::Time()> now;
};

// Opens (creating directories as needed) the store rooted at `root`.
absl::StatusOr<std::unique_ptr<ContentStore>> OpenFsContentStore(const std::string& root);
absl::StatusOr<std::unique_ptr<ContentStore>> OpenFsContentStore(
    const std::string& root, const FsContentStoreOptions& options);

}  // namespace kiln::cache

#endif  // KILN_CACHE_FS_CONTENT_STORE_H_
