// Internal: read access to an image being imported, whether it is a directory (OCI layout)
// or a tar file (oci-archive, docker-archive). Names are relative, '/'-separated paths
// ("index.json", "blobs/sha256/<hex>", "abc/layer.tar"); "./" prefixes are ignored.
// Directory reads resolve inside the directory only (openat2 RESOLVE_IN_ROOT); tar sources
// are read twice at most (an index pass caching small files, then one streaming pass).
// Not thread-safe.
#ifndef KILN_ENGINE_IMAGE_IMPORT_SOURCE_H_
#define KILN_ENGINE_IMAGE_IMPORT_SOURCE_H_

#include <cstddef>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace kiln::engine::image::internal {

// Reads up to `len` bytes into `buf`; 0 at the end.
using ChunkReader = std::function<absl::StatusOr<size_t>(char* buf, size_t len)>;

class ImportSource {
 public:
  virtual ~ImportSource() = default;
  // Whether a regular file `name` exists.
  virtual bool Exists(std::string_view name) = 0;
  // Reads a whole file of at most `max_size` bytes. NotFound if absent, InvalidArgument if
  // larger than max_size.
  virtual absl::StatusOr<std::string> ReadSmall(std::string_view name,
                                                size_t max_size = 64 << 20) = 0;
  // Calls `fn` once per name in `names` (in the source's order) with a reader of its bytes.
  // NotFound naming the first missing file.
  virtual absl::Status Stream(
      const std::set<std::string>& names,
      const std::function<absl::Status(const std::string& name, const ChunkReader& read)>& fn) = 0;
  // The name under which `name`'s bytes are stored: tar symlinks and hardlinks (which
  // `docker save` uses for repeated layers) resolved, "./" removed. Use it to deduplicate
  // names before Stream.
  virtual std::string Canonical(std::string_view name) = 0;
  // The source path for messages.
  virtual const std::string& path() const = 0;
};

// Opens `path`: a directory, or a (possibly compressed) tar file. InvalidArgument when the
// file is not a readable archive; NotFound when `path` does not exist.
absl::StatusOr<std::unique_ptr<ImportSource>> OpenImportSource(const std::string& path);

}  // namespace kiln::engine::image::internal

#endif  // KILN_ENGINE_IMAGE_IMPORT_SOURCE_H_
