#include "engine/registry/push.h"

#include <atomic>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "base/status.h"
#include "engine/oci/manifest.h"
#include "engine/oci/media_types.h"
#include "engine/registry/compress.h"
#include "engine/registry/distribution.h"
#include "engine/registry/pull.h"

namespace kiln::engine::registry {
namespace {

struct Counters {
  std::atomic<int64_t> bytes{0};
  std::atomic<int> uploaded{0};
  std::atomic<int> mounted{0};
  std::atomic<int> present{0};
};

absl::Status PushBlob(RegistryClient& client, cache::ContentStore& store, const std::string& repo,
                      const oci::Descriptor& desc, const PushOptions& options, Counters& counters) {
  KILN_ASSIGN_OR_RETURN(bool present, BlobExists(client, repo, desc.digest));
  std::string label = absl::StrCat(base::AsAbsl(kLabelSourcePrefix), client.domain());
  if (present) {
    ++counters.present;
  } else {
    std::string from;
    KILN_ASSIGN_OR_RETURN(cache::BlobInfo info, store.Info(desc.digest));
    if (auto it = info.labels.find(label); it != info.labels.end()) from = it->second;
    KILN_ASSIGN_OR_RETURN(UploadStats stats,
                          UploadBlob(client, repo, desc, store, from, options.chunk_size));
    counters.bytes += stats.bytes_sent;
    ++(stats.mounted ? counters.mounted : counters.uploaded);
  }
  return store.SetLabels(desc.digest, {{label, repo}});
}

absl::Status PushAll(RegistryClient& client, cache::ContentStore& store, const std::string& repo,
                     const std::vector<oci::Descriptor>& blobs, const PushOptions& options,
                     Counters& counters) {
  std::atomic<size_t> next{0};
  absl::Mutex mu;
  absl::Status first;
  auto work = [&] {
    for (size_t i = next++; i < blobs.size(); i = next++) {
      absl::Status s = PushBlob(client, store, repo, blobs[i], options, counters);
      if (!s.ok()) {
        absl::MutexLock lock(&mu);
        if (first.ok()) first = s;
        next = blobs.size();
      }
    }
  };
  size_t n = std::min<size_t>(
      blobs.size(),
      static_cast<size_t>(std::max(1, std::min(options.parallel, client.max_connections()))));
  std::vector<std::thread> threads;
  for (size_t i = 1; i < n; ++i) threads.emplace_back(work);
  work();
  for (std::thread& t : threads) t.join();
  return first;
}

}  // namespace

absl::StatusOr<PushResult> PushImage(RegistryClient& client, image::ImageStore& store,
                                     const std::string& local_ref, const oci::Reference& dest,
                                     cache::Lease& lease, const PushOptions& options) {
  std::string what = absl::StrCat("push '", local_ref, "' to '", dest.String(), "'");
  KILN_ASSIGN_OR_RETURN(image::ImageRecord record, store.Get(local_ref));
  if (!oci::IsManifestMediaType(record.target.media_type)) {
    return absl::UnimplementedError(
        absl::StrCat(what, ": it is a multi-platform index (", record.target.media_type,
                     "); Kiln pushes single-platform images only for now"));
  }
  cache::ContentStore& content = store.content();
  KILN_RETURN_IF_ERROR(lease.HoldBlob(record.target.digest));
  KILN_ASSIGN_OR_RETURN(std::string bytes, content.ReadAll(record.target.digest, true));
  KILN_ASSIGN_OR_RETURN(oci::Manifest manifest, oci::ParseManifest(bytes, what));
  bool docker_types = record.target.media_type == oci::kMediaTypeDockerManifest;
  bool changed = false;
  KILN_RETURN_IF_ERROR(lease.HoldBlob(manifest.config.digest));
  for (oci::Descriptor& layer : manifest.layers) {
    KILN_RETURN_IF_ERROR(lease.HoldBlob(layer.digest));
    absl::StatusOr<oci::Descriptor> c =
        EnsureCompressed(content, layer, options.compression, docker_types, lease);
    if (!c.ok()) return base::Annotate(c.status(), what);
    changed = changed || !(*c == layer);
    layer = std::move(*c);
  }
  if (changed) bytes = oci::SerializeManifest(manifest);
  std::vector<oci::Descriptor> blobs = manifest.layers;
  blobs.push_back(manifest.config);
  PushResult result;
  result.manifest_digest = base::Digest::Of(bytes);
  if (!dest.digest.empty() && dest.digest != result.manifest_digest.str()) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, ": the image's manifest is ", result.manifest_digest.str(), ", not ", dest.digest));
  }
  std::string reference = dest.tag.empty() ? result.manifest_digest.str() : dest.tag;
  // The unchanged image again: one manifest HEAD. A registry only accepts a manifest whose
  // blobs it has, so the tag naming this very digest means everything is there. Any error
  // (absent, no pull right yet) just means: push as usual.
  absl::StatusOr<oci::Descriptor> there = HeadManifest(client, dest.path, reference);
  if (there.ok() && there->digest == result.manifest_digest) {
    result.blobs_present = static_cast<int>(blobs.size());
    return result;
  }
  Counters counters;
  absl::Status pushed = PushAll(client, content, dest.path, blobs, options, counters);
  if (!pushed.ok()) return base::Annotate(pushed, what);
  KILN_RETURN_IF_ERROR(PutManifest(client, dest.path, reference, record.target.media_type, bytes));
  result.bytes_uploaded = counters.bytes;
  result.blobs_uploaded = counters.uploaded;
  result.blobs_mounted = counters.mounted;
  result.blobs_present = counters.present;
  return result;
}

}  // namespace kiln::engine::registry
