#include "engine/remotecache/remote_cache_seam.h"

#include <fcntl.h>
#include <unistd.h>

#include <optional>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "base/fs.h"
#include "base/status.h"
#include "base/unique_fd.h"
#include "engine/ops/image_source_op.h"
#include "engine/ops/results.h"
#include "engine/oci/image.h"
#include "engine/oci/manifest.h"
#include "engine/oci/media_types.h"
#include "engine/remotecache/store_for.h"
#include "engine/solver/vertex.h"

namespace kiln::engine::remotecache {
namespace {

// A manifest + config in `content` whose layers are `chain`: UnpackImage applies it.
absl::StatusOr<base::Digest> PutChainManifest(cache::ContentStore& content,
                                              const CacheDescription& d, const CacheEntry& e) {
  oci::Image img;
  oci::Manifest m;
  m.media_type = std::string(oci::kMediaTypeOciManifest);
  for (size_t i : e.chain) {
    const CacheLayer& l = d.layers[i];
    img.diff_ids.push_back(l.diff_id);
    oci::Descriptor desc;
    desc.media_type = l.media_type;
    desc.digest = l.digest;
    desc.size = l.size;
    m.layers.push_back(std::move(desc));
  }
  std::string config = oci::SerializeImage(img);
  KILN_ASSIGN_OR_RETURN(cache::BlobInfo ci, content.Put(config));
  m.config.media_type = std::string(oci::kMediaTypeOciConfig);
  m.config.digest = ci.digest;
  m.config.size = ci.size;
  KILN_ASSIGN_OR_RETURN(cache::BlobInfo mi, content.Put(oci::SerializeManifest(m)));
  return mi.digest;
}

}  // namespace

absl::StatusOr<solver::ResultRef> RemoteCacheSeam::Lookup(const base::Digest& key,
                                                          const solver::Vertex& vertex) {
  KILN_ASSIGN_OR_RETURN(solver::ResultRef hit, local_->Lookup(key, vertex));
  if (hit != nullptr) {
    RecordFor(vertex, key, hit);
    return hit;
  }
  std::vector<std::pair<BuildSession*, std::shared_ptr<ImportedCache>>> found;
  {
    absl::MutexLock lock(&mu_);
    for (BuildSession* s : sessions_) {
      for (const auto& imp : s->imports_) {
        if (imp->by_key.contains(key)) found.emplace_back(s, imp);
      }
    }
  }
  for (auto& [session, imp] : found) {
    const CacheEntry& entry = imp->description.records[imp->by_key.at(key)];
    absl::Status st = Materialize(key, *imp, entry);
    if (!st.ok()) {
      session->Warn(absl::StrCat("import cache ", imp->source, ": step '", vertex.name(),
                                 "' runs: ", st.message()));
      continue;
    }
    KILN_ASSIGN_OR_RETURN(hit, local_->Lookup(key, vertex));
    if (hit != nullptr) {
      RecordFor(vertex, key, hit);
      return hit;
    }
  }
  return solver::ResultRef();
}

absl::Status RemoteCacheSeam::Save(const base::Digest& key, const solver::ResultRef& result,
                                   const solver::Vertex& vertex) {
  KILN_RETURN_IF_ERROR(local_->Save(key, result, vertex));
  RecordFor(vertex, key, result);
  return absl::OkStatus();
}

void RemoteCacheSeam::RecordFor(const solver::Vertex& vertex, const base::Digest& key,
                                const solver::ResultRef& result) {
  // Only builds that export read what is recorded; the others (every build without
  // --export-cache, the no-op path among them) cost one scan of the live sessions.
  std::optional<RecordedStep> step;
  absl::MutexLock lock(&mu_);
  for (BuildSession* s : sessions_) {
    if (s->exports_.empty() || !s->vertices_.contains(vertex.digest())) continue;
    if (!step) {
      auto* snap = dynamic_cast<const SnapshotResult*>(result.get());
      if (snap == nullptr) return;
      step = RecordedStep{key, snap->snapshot(), vertex.name()};
    }
    s->Record(*step);
  }
}

absl::Status RemoteCacheSeam::Materialize(const base::Digest& key, ImportedCache& from,
                                          const CacheEntry& entry) {
  const CacheDescription& d = from.description;
  // Blobs written here are held until the layers are applied and recorded (UnpackImage
  // records each layer's blob, which keeps it from then on).
  cache::Lease hold = worker_->leases != nullptr ? worker_->leases->NewLease() : cache::Lease();
  for (size_t i : entry.chain) {
    const CacheLayer& l = d.layers[i];
    if (worker_->leases != nullptr) KILN_RETURN_IF_ERROR(hold.HoldBlob(l.digest));
    absl::MutexLock lock(&from.mu);
    KILN_RETURN_IF_ERROR(from.store->FetchLayer(l, *worker_->content));
  }
  std::string top;
  if (!entry.chain.empty()) {
    KILN_ASSIGN_OR_RETURN(base::Digest manifest, PutChainManifest(*worker_->content, d, entry));
    if (worker_->leases != nullptr) KILN_RETURN_IF_ERROR(hold.HoldBlob(manifest));
    KILN_ASSIGN_OR_RETURN(top, UnpackImage(*worker_, *layers_, manifest, nullptr,
                                           worker_->leases != nullptr ? &hold : nullptr));
    KILN_RETURN_IF_ERROR(base::MkdirAll(state_dir_ + "/created", 0700));
    KILN_RETURN_IF_ERROR(
        base::WriteFileAtomically(state_dir_ + "/created/" + top, absl::StrCat(entry.created)));
  }
  cache::CacheRecord r;
  r.snapshot = top;
  if (!top.empty()) {
    auto usage = worker_->snapshots->Usage(top);
    if (usage.ok()) r.size = usage->size;
  }
  r.extra["description"] = entry.description;
  r.extra["imported"] = from.source;
  return index_->Put(key, std::move(r));
}

std::optional<int64_t> RemoteCacheSeam::ImportedCreated(const std::string& snapshot) const {
  if (snapshot.empty() || snapshot.find('/') != std::string::npos) return std::nullopt;
  base::UniqueFd fd(
      ::open((state_dir_ + "/created/" + snapshot).c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd) return std::nullopt;
  absl::StatusOr<std::string> text = base::ReadAll(fd.get(), snapshot, 64);
  int64_t v = 0;
  if (!text.ok() || !absl::SimpleAtoi(*text, &v)) return std::nullopt;
  return v;
}

int64_t RemoteCacheSeam::CreatedOf(const std::string& snapshot) const {
  if (auto v = ImportedCreated(snapshot)) return *v;
  auto info = worker_->snapshots->Stat(snapshot);
  return info.ok() ? absl::ToUnixSeconds(info->created) : 0;
}

std::unique_ptr<BuildSession> RemoteCacheSeam::BeginBuild(const std::vector<CacheImport>& imports,
                                                          std::vector<CacheExport> exports,
                                                          std::set<base::Digest> vertices,
                                                          RegistryClientFactory clients) {
  std::unique_ptr<BuildSession> s(new BuildSession(this));
  s->clients_ = clients;
  s->vertices_ = std::move(vertices);
  s->exports_ = std::move(exports);
  for (const CacheImport& spec : imports) {
    auto imp = std::make_shared<ImportedCache>();
    imp->source = spec.Source();
    std::unique_ptr<CacheStore> store = StoreFor(spec, clients, worker_->content);
    absl::StatusOr<std::optional<CacheDescription>> d = store->Read();
    if (!d.ok()) {
      s->Warn(absl::StrCat("import cache ", imp->source, ": ignored: ", d.status().message()));
      continue;
    }
    if (!d->has_value()) {
      s->Warn(absl::StrCat("import cache ", imp->source, ": ignored: no cache there"));
      continue;
    }
    imp->description = **std::move(d);
    for (size_t i = 0; i < imp->description.records.size(); ++i) {
      imp->by_key.emplace(imp->description.records[i].key, i);
    }
    {
      absl::MutexLock lock(&imp->mu);
      imp->store = std::move(store);
    }
    s->imports_.push_back(std::move(imp));
  }
  absl::MutexLock lock(&mu_);
  sessions_.insert(s.get());
  return s;
}

void RemoteCacheSeam::Unregister(BuildSession* s) {
  absl::MutexLock lock(&mu_);
  sessions_.erase(s);
}

}  // namespace kiln::engine::remotecache
