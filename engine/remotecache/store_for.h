// The CacheStore an --export-cache / --import-cache names.
#ifndef KILN_ENGINE_REMOTECACHE_STORE_FOR_H_
#define KILN_ENGINE_REMOTECACHE_STORE_FOR_H_

#include <memory>

#include "engine/remotecache/cache_spec.h"
#include "engine/remotecache/cache_store.h"

namespace kiln::engine::remotecache {

std::unique_ptr<CacheStore> StoreFor(const CacheImport& spec);
std::unique_ptr<CacheStore> StoreFor(const CacheExport& spec);

}  // namespace kiln::engine::remotecache

#endif  // KILN_ENGINE_REMOTECACHE_STORE_FOR_H_
