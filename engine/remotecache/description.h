// CacheDescription: Kiln's cache description, the config blob of a cache manifest. It maps
// content cache keys (cache/cache_key.h: no host paths, uids or inode numbers) to the layer
// chain of the step's result, so another machine can materialize the result by applying the
// chain. It carries nothing of the exporting machine: no paths, uids, inodes, snapshot names.
// `created` is the result's creation time as the image config records it (the image a build
// on top of the result exports is dated by it, so an importer makes the same image digest);
// it is also the "newest wins" order when two descriptions are merged.
//
// JSON (version 1):
//   {"mediaType": kDescriptionMediaType, "version": 1,
//    "layers": [{"digest", "diffID", "size", "mediaType"}...],
//    "records": [{"key", "chain": [layer index, base first], "created", "description"}...]}
// Encoding and decoding stream (no size limit); decoding checks every index and digest.
#ifndef KILN_ENGINE_REMOTECACHE_DESCRIPTION_H_
#define KILN_ENGINE_REMOTECACHE_DESCRIPTION_H_

#include <cstdint>
#include <istream>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "base/digest.h"

namespace kiln::engine::remotecache {

inline constexpr std::string_view kDescriptionMediaType =
    "application/vnd.kiln.cache.description.v1+json";
inline constexpr int kDescriptionVersion = 1;

struct CacheLayer {
  base::Digest digest;   // the blob
  base::Digest diff_id;  // the uncompressed tar
  int64_t size = 0;      // blob size
  std::string media_type;
  friend bool operator==(const CacheLayer&, const CacheLayer&) = default;
};

struct CacheEntry {
  base::Digest key;           // the step's cache key
  std::vector<size_t> chain;  // indexes into CacheDescription::layers, base first
  int64_t created = 0;        // unix seconds (see above)
  std::string description;    // the step's name, for du/progress ("RUN make")
  friend bool operator==(const CacheEntry&, const CacheEntry&) = default;
};

struct CacheDescription {
  std::vector<CacheLayer> layers;
  std::vector<CacheEntry> records;
};

// Writes `d` as JSON to `out`.
absl::Status EncodeDescription(const CacheDescription& d, std::ostream& out);
std::string EncodeDescription(const CacheDescription& d);

// DataLoss naming `what` and the bad field for malformed JSON, an unknown version or media
// type, a bad digest or an index out of range.
absl::StatusOr<CacheDescription> DecodeDescription(std::istream& in, std::string_view what);
absl::StatusOr<CacheDescription> DecodeDescription(std::string_view json, std::string_view what);

// `base` with the records of `newer` added; for a key in both, the newer `created` wins (ties:
// `newer`). Layers are deduplicated by digest; layers no record uses are dropped.
CacheDescription MergeDescriptions(const CacheDescription& base, const CacheDescription& newer);

}  // namespace kiln::engine::remotecache

#endif  // KILN_ENGINE_REMOTECACHE_DESCRIPTION_H_
