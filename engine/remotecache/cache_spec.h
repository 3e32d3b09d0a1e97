// CacheExport / CacheImport: one --export-cache / --import-cache, parsed from its wire form
// (type + attrs, as --output) by ParseCacheExport / ParseCacheImport. kilnctl parses them to
// fail early; the engine parses them again before any step runs.
#ifndef KILN_ENGINE_REMOTECACHE_CACHE_SPEC_H_
#define KILN_ENGINE_REMOTECACHE_CACHE_SPEC_H_

#include <map>
#include <string>

#include "absl/status/statusor.h"

namespace kiln::engine::remotecache {

// The wire form: "type=local,dest=DIR,mode=max" as {type, attrs}.
struct CacheSpecText {
  std::string type;
  std::map<std::string, std::string> attrs;
};

// min: the steps whose results are in the final image; max: every step, intermediate stages too.
enum class CacheMode { kMin, kMax };

enum class CacheType { kLocal, kRegistry };

struct CacheExport {
  CacheType type = CacheType::kLocal;
  std::string dest;  // type=local: an absolute directory (an OCI layout)
  std::string ref;   // type=registry: REG/REPO:TAG
  CacheMode mode = CacheMode::kMin;
  std::string compression = "gzip";  // gzip | zstd | uncompressed
  bool ignore_error = false;         // a failed export is a warning, not a failed build
  // A failed build still exports the steps that finished (every one of them, whatever the
  // mode: without a final image there is no "final image's steps").
  bool on_failure = false;
};

struct CacheImport {
  CacheType type = CacheType::kLocal;
  std::string src;  // type=local: an absolute directory
  std::string ref;  // type=registry
  // "local:DIR" or "registry:REF": how records imported from it are marked.
  std::string Source() const;
};

// InvalidArgument naming the flag, the bad field and what was expected.
absl::StatusOr<CacheExport> ParseCacheExport(const CacheSpecText& spec);
absl::StatusOr<CacheImport> ParseCacheImport(const CacheSpecText& spec);

// The wire forms: Parse*(ToText(x)) gives x back.
CacheSpecText ToText(const CacheExport& spec);
CacheSpecText ToText(const CacheImport& spec);

}  // namespace kiln::engine::remotecache

#endif  // KILN_ENGINE_REMOTECACHE_CACHE_SPEC_H_
