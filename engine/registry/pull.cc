#include "engine/registry/pull.h"

#include <atomic>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "base/status.h"
#include "engine/oci/manifest.h"
#include "engine/oci/media_types.h"
#include "engine/registry/distribution.h"

namespace kiln::engine::registry {
namespace {

std::map<std::string, std::string> SourceLabel(const RegistryClient& client,
                                               const std::string& repo) {
  return {{absl::StrCat(base::AsAbsl(kLabelSourcePrefix), client.domain()), repo}};
}

// Fetches `blobs` with at most `parallel` transfers at once; the first error wins.
absl::Status FetchAll(RegistryClient& client, const std::string& repo,
                      const std::vector<oci::Descriptor>& blobs, cache::ContentStore& store,
                      int parallel, int* fetched) {
  std::atomic<size_t> next{0};
  std::atomic<int> count{0};
  absl::Mutex mu;
  absl::Status first;
  auto work = [&] {
    for (size_t i = next++; i < blobs.size(); i = next++) {
      bool had = store.Has(blobs[i].digest);
      absl::Status s = FetchBlob(client, repo, blobs[i], store, SourceLabel(client, repo));
      if (s.ok() && !had) ++count;
      if (!s.ok()) {
        absl::MutexLock lock(&mu);
        if (first.ok()) first = s;
        next = blobs.size();
      }
    }
  };
  size_t n = std::min<size_t>(blobs.size(), static_cast<size_t>(std::max(1, parallel)));
  std::vector<std::thread> threads;
  for (size_t i = 1; i < n; ++i) threads.emplace_back(work);
  work();
  for (std::thread& t : threads) t.join();
  *fetched += count;
  return first;
}

absl::Status StoreManifest(cache::ContentStore& store, const FetchedManifest& m,
                           std::map<std::string, std::string> labels) {
  if (store.Has(m.descriptor.digest)) return store.SetLabels(m.descriptor.digest, labels);
  KILN_ASSIGN_OR_RETURN(cache::BlobInfo info, store.Put(m.bytes, std::move(labels)));
  if (info.digest != m.descriptor.digest) {
    return absl::DataLossError(absl::StrCat("store manifest ", m.descriptor.digest.str(),
                                            ": stored as ", info.digest.str()));
  }
  return absl::OkStatus();
}

// The manifest `desc` names: from the content store when it is there (verified), else GET
// `reference` (a tag, or desc's digest). `desc` may be null (nothing known yet).
absl::StatusOr<FetchedManifest> LoadManifest(RegistryClient& client, const std::string& repo,
                                             const std::string& reference,
                                             const oci::Descriptor* desc,
                                             cache::ContentStore& content, int* fetched) {
  if (desc != nullptr && content.Has(desc->digest)) {
    absl::StatusOr<std::string> bytes = content.ReadAll(desc->digest, /*verify=*/true);
    if (bytes.ok() && static_cast<int64_t>(bytes->size()) == desc->size) {
      FetchedManifest out;
      out.descriptor.media_type = desc->media_type;
      out.descriptor.digest = desc->digest;
      out.descriptor.size = desc->size;
      out.bytes = std::move(*bytes);
      return out;
    }
  }
  ++*fetched;
  return GetManifest(client, repo, reference);
}

// Picks the platform manifest of `index` (oci::SelectPlatform, the one selector).
absl::StatusOr<oci::Descriptor> Choose(const FetchedManifest& fetched, const oci::Platform& want,
                                       const std::string& what) {
  KILN_ASSIGN_OR_RETURN(oci::Index index, oci::ParseIndex(fetched.bytes, what));
  absl::StatusOr<oci::Descriptor> chosen = oci::SelectPlatform(index, want);
  if (!chosen.ok()) return base::Annotate(chosen.status(), what);
  return chosen;
}

}  // namespace

absl::StatusOr<oci::Descriptor> ResolveRemote(RegistryClient& client, const oci::Reference& ref,
                                              const std::string& repository) {
  return HeadManifest(client, repository.empty() ? ref.path : repository,
                      ref.digest.empty() ? ref.tag : ref.digest);
}

absl::StatusOr<PullResult> PullImage(RegistryClient& client, const oci::Reference& ref,
                                     image::ImageStore& store, const PullOptions& options) {
  std::string what = absl::StrCat("pull '", ref.String(), "'");
  const std::string& repo = options.repository.empty() ? ref.path : options.repository;
  cache::ContentStore& content = store.content();
  PullResult result;
  const oci::Descriptor* known = options.resolved.has_value() ? &*options.resolved : nullptr;
  KILN_ASSIGN_OR_RETURN(FetchedManifest top,
                        LoadManifest(client, repo, ref.digest.empty() ? ref.tag : ref.digest, known,
                                     content, &result.manifests_fetched));
  FetchedManifest platform_manifest = top;
  bool index = oci::IsIndexMediaType(top.descriptor.media_type);
  if (index) {
    KILN_ASSIGN_OR_RETURN(oci::Descriptor chosen, Choose(top, options.platform, what));
    KILN_ASSIGN_OR_RETURN(platform_manifest,
                          LoadManifest(client, repo, chosen.digest.str(), &chosen, content,
                                       &result.manifests_fetched));
    if (platform_manifest.descriptor.digest != chosen.digest ||
        platform_manifest.descriptor.size != chosen.size ||
        !oci::IsManifestMediaType(platform_manifest.descriptor.media_type)) {
      return absl::DataLossError(absl::StrCat(what, ": manifest ", chosen.digest.str(),
                                              " does not match its index entry"));
    }
  }
  KILN_ASSIGN_OR_RETURN(oci::Manifest manifest, oci::ParseManifest(platform_manifest.bytes, what));
  std::vector<oci::Descriptor> blobs = {manifest.config};
  blobs.insert(blobs.end(), manifest.layers.begin(), manifest.layers.end());
  KILN_RETURN_IF_ERROR(FetchAll(client, repo, blobs, content,
                                std::min(options.parallel, client.max_connections()),
                                &result.blobs_fetched));
  KILN_RETURN_IF_ERROR(StoreManifest(content, platform_manifest, SourceLabel(client, repo)));
  result.target = platform_manifest.descriptor;
  if (index) {
    // Kept for a tag too: the next revalidation of the tag reads it from here.
    KILN_RETURN_IF_ERROR(StoreManifest(content, top, SourceLabel(client, repo)));
    if (!ref.digest.empty()) result.target = top.descriptor;
  }
  result.ref = ref.String();
  result.manifest_digest = platform_manifest.descriptor.digest;
  KILN_RETURN_IF_ERROR(store.Put(result.ref, result.target));
  return result;
}

}  // namespace kiln::engine::registry
