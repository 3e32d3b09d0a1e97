// ContentStore: blobs addressed by sha256 digest (layers, configs, manifests).
//
// Contract (every implementation passes the same typed test suite):
// - Writer streams bytes into a temp location; Commit(expected) verifies the digest (DataLoss
//   on mismatch), fsyncs, and renames into place, so a crash never leaves a partial blob
//   under a real name. Abandoning a Writer (destroying it without Commit) removes its temp.
// - Concurrent writers of the same digest are safe: the blob is stored once; a Commit that
//   finds it already present succeeds (returns the existing info).
// - Blobs carry string labels (e.g. "kiln.gc.ref.<name>" = digest) used by GC, and a
//   last-used time.
// Thread-safe: all methods may be called from any thread.
#ifndef KILN_CACHE_CONTENT_STORE_H_
#define KILN_CACHE_CONTENT_STORE_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "base/digest.h"

namespace kiln::cache {

struct BlobInfo {
  base::Digest digest;
  int64_t size = 0;
  absl::Time created_at;
  absl::Time last_used;
  std::map<std::string, std::string> labels;
};

class ContentWriter {
 public:
  virtual ~ContentWriter() = default;
  virtual absl::Status Write(const void* data, size_t len) = 0;
  absl::Status Write(std::string_view s) { return Write(s.data(), s.size()); }
  // Bytes written so far.
  virtual int64_t Offset() const = 0;
  // Digest of the bytes written so far (computed while writing).
  virtual base::Digest CurrentDigest() = 0;
  // Verifies (if `expected` is non-empty) and publishes the blob. After Commit the writer is
  // spent. Labels are merged into the blob's labels.
  virtual absl::StatusOr<BlobInfo> Commit(const base::Digest& expected = {},
                                          std::map<std::string, std::string> labels = {}) = 0;
};

class ContentStore {
 public:
  virtual ~ContentStore() = default;

  // Starts a new blob. `ref` names the ingest for diagnostics only.
  virtual absl::StatusOr<std::unique_ptr<ContentWriter>> Writer(std::string_view ref) = 0;

  // For a writer that already hashes exactly the bytes it writes (the layer encoder computes
  // the blob digest in the same pass): Commit must be given that digest and trusts it instead
  // of hashing every byte a second time. Everything else (temp file, fsync, rename, labels)
  // is as with Writer. Implementations may ignore the hint and verify anyway (the default).
  virtual absl::StatusOr<std::unique_ptr<ContentWriter>> PrehashedWriter(std::string_view ref) {
    return Writer(ref);
  }

  // Convenience: writes a whole byte string as one blob.
  virtual absl::StatusOr<BlobInfo> Put(std::string_view bytes,
                                       std::map<std::string, std::string> labels = {}) = 0;

  // NotFound if absent.
  virtual absl::StatusOr<BlobInfo> Info(const base::Digest& d) = 0;
  virtual bool Has(const base::Digest& d) = 0;

  // Reads a whole blob (for small blobs: configs, manifests). With verify, DataLoss if the
  // stored bytes no longer hash to `d`.
  virtual absl::StatusOr<std::string> ReadAll(const base::Digest& d, bool verify = false) = 0;

  // Opens a blob for streaming reads; returns an fd owned by the caller (O_RDONLY|O_CLOEXEC).
  // Implementations without files (in-memory) may return Unimplemented.
  virtual absl::StatusOr<int> OpenRead(const base::Digest& d) = 0;

  // Path of the blob file if the implementation keeps blobs as files, else empty.
  virtual std::string PathOf(const base::Digest& d) = 0;

  virtual absl::Status SetLabels(const base::Digest& d,
                                 std::map<std::string, std::string> labels) = 0;
  virtual absl::Status Touch(const base::Digest& d) = 0;   // updates last_used
  virtual absl::Status Delete(const base::Digest& d) = 0;  // NotFound if absent
  virtual absl::Status Walk(const std::function<void(const BlobInfo&)>& fn) = 0;
};

}  // namespace kiln::cache

#endif  // KILN_CACHE_CONTENT_STORE_H_
