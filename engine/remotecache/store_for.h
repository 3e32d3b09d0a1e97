// The CacheStore an --export-cache / --import-cache names.
#ifndef KILN_ENGINE_REMOTECACHE_STORE_FOR_H_
#define KILN_ENGINE_REMOTECACHE_STORE_FOR_H_

#include <memory>

#include "engine/remotecache/cache_spec.h"
#include "engine/remotecache/cache_store.h"

namespace kiln::engine::remotecache {

// `clients` and `scratch` serve registry stores (see RegistryCacheStore).
std::unique_ptr<CacheStore> StoreFor(const CacheImport& spec, const RegistryClientFactory& clients,
                                     cache::ContentStore* scratch);
std::unique_ptr<CacheStore> StoreFor(const CacheExport& spec, const RegistryClientFactory& clients,
                                     cache::ContentStore* scratch);

}  // namespace kiln::engine::remotecache

#endif  // KILN_ENGINE_REMOTECACHE_STORE_FOR_H_
