// CacheStore: where an exported cache lives (a local OCI layout; a registry repository). A
// cache is an OCI image manifest whose config is the cache description (description.h) and
// whose layers are the result blobs.
//
// Contract: Read fetches only the manifest and the description (never a layer); a layer is
// fetched by FetchLayer when a hit needs it. Write puts the blobs first (skipping those already
// there), then the description, and the manifest last, so a reader never sees a manifest whose
// blobs are missing. Not thread-safe; one store per export or import.
#ifndef KILN_ENGINE_REMOTECACHE_CACHE_STORE_H_
#define KILN_ENGINE_REMOTECACHE_CACHE_STORE_H_

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "cache/content_store.h"
#include "engine/registry/client.h"
#include "engine/remotecache/description.h"

namespace kiln::engine::remotecache {

class CacheStore {
 public:
  virtual ~CacheStore() = default;
  // The stored description; nullopt when nothing is stored there yet. DataLoss / InvalidArgument
  // when something is there but is not a readable Kiln cache.
  virtual absl::StatusOr<std::optional<CacheDescription>> Read() = 0;
  // Copies layer blob `layer` into `content`, verified. NotFound if the store lacks it.
  virtual absl::Status FetchLayer(const CacheLayer& layer, cache::ContentStore& content) = 0;
  // Stores `d`; its layer blobs are read from `content`.
  virtual absl::Status Write(const CacheDescription& d, cache::ContentStore& content) = 0;
  // For messages: "local:DIR" or "registry:REF".
  virtual std::string Name() const = 0;
};

// A cache in an OCI image layout directory (index.json, oci-layout, blobs/sha256/...). Reads
// happen below the directory's fd (no symlink leaves it); Write creates it if missing.
std::unique_ptr<CacheStore> LocalCacheStore(std::string dir);

// A client for a registry domain, with the build's credentials and kilnd's host options.
using RegistryClientFactory =
    std::function<std::unique_ptr<registry::RegistryClient>(const std::string& domain)>;

// A cache in a registry: the manifest tagged `ref` (REG/REPO:TAG). Write skips blobs the
// registry has (HEAD). Read puts the description blob in `scratch` (the engine's content
// store; not owned). Errors: the registry's (engine/registry/errors.h); a tag holding
// something else than a Kiln cache is InvalidArgument; a missing tag reads as nullopt.
std::unique_ptr<CacheStore> RegistryCacheStore(std::string ref, RegistryClientFactory clients,
                                               cache::ContentStore* scratch);

}  // namespace kiln::engine::remotecache

#endif  // KILN_ENGINE_REMOTECACHE_CACHE_STORE_H_
