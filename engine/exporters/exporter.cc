#include "engine/exporters/exporter.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <variant>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "base/fs.h"
#include "base/status.h"
#include "base/unique_fd.h"
#include "engine/copy/copy.h"
#include "engine/oci/layout_writer.h"
#include "engine/oci/manifest.h"
#include "engine/oci/media_types.h"

namespace kiln::engine {
namespace {

std::string Rfc3339(std::optional<int64_t> epoch) {
  absl::Time t = epoch ? absl::FromUnixSeconds(*epoch) : absl::Now();
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E*SZ", t, absl::UTCTimeZone());
}

// How often a hold that races GC's removal of the same blob is retried (GC's removal guard
// lasts one delete, so a few short waits suffice).
constexpr int kHoldAttempts = 50;
constexpr absl::Duration kHoldRetryWait = absl::Milliseconds(10);

// Holds `digest` in `lease` (no-op without one). False if GC is deleting it right now.
absl::StatusOr<bool> HoldBlob(cache::Lease* lease, const base::Digest& digest) {
  if (lease == nullptr) return true;
  absl::Status st = lease->HoldBlob(digest);
  if (absl::IsAborted(st)) return false;
  KILN_RETURN_IF_ERROR(st);
  return true;
}

// Puts `bytes` in the content store unless the blob is already there: a no-op rebuild makes
// the same config and manifest again, and a Put costs a synced ingest file and a metadata
// transaction even when the blob exists. The blob is held first, so an existing one cannot
// be collected between the check and its use.
absl::StatusOr<cache::BlobInfo> PutIfMissing(cache::ContentStore& content, cache::Lease* lease,
                                             std::string_view bytes) {
  base::Digest digest = base::Digest::Of(bytes);
  for (int attempt = 0;; ++attempt) {
    KILN_ASSIGN_OR_RETURN(bool held, HoldBlob(lease, digest));
    if (held) break;
    if (attempt + 1 == kHoldAttempts) {
      return absl::AbortedError(absl::StrCat("hold blob '", digest.str(), "': being collected"));
    }
    absl::SleepFor(kHoldRetryWait);
  }
  if (content.Has(digest)) {
    cache::BlobInfo info;
    info.digest = digest;
    info.size = static_cast<int64_t>(bytes.size());
    return info;
  }
  return content.Put(bytes);
}

// The layer of `snapshot`, held in `lease`: a blob that GC deleted between LayerStore's check
// and the hold is made again (LayerOf remakes a layer whose blob vanished). Making a layer
// whose identical old blob GC deletes at that moment fails publishing it (NotFound): that is
// retried too.
absl::StatusOr<LayerInfo> HeldLayerOf(const Worker& worker, LayerStore& layers,
                                      const std::string& snapshot, const ImageSpec& spec,
                                      cache::Lease* lease) {
  constexpr int kNotFoundAttempts = 5;
  for (int attempt = 0;; ++attempt) {
    absl::StatusOr<LayerInfo> made =
        layers.LayerOf(snapshot, spec.compression, spec.source_date_epoch);
    if (lease != nullptr && absl::IsNotFound(made.status()) && attempt + 1 < kNotFoundAttempts) {
      absl::SleepFor(kHoldRetryWait);
      continue;
    }
    KILN_ASSIGN_OR_RETURN(LayerInfo l, std::move(made));
    KILN_ASSIGN_OR_RETURN(bool held, HoldBlob(lease, l.digest));
    if (held && (lease == nullptr || worker.content->Has(l.digest))) return l;
    if (attempt + 1 == kHoldAttempts) {
      return absl::AbortedError(
          absl::StrCat("hold layer of '", snapshot, "': collected on every attempt"));
    }
    absl::SleepFor(kHoldRetryWait);
  }
}

// Writes an archive through a temp file beside `dest`, renamed over it once complete and synced.
template <class WriteFn>
absl::Status WriteArchive(const Worker& worker, const BuiltImage& image, const std::string& dest,
                          const std::string& name, WriteFn write) {
  oci::LayoutWriteOptions lo;
  lo.ref_name = name;
  return base::WriteFileAtomically(
      dest, [&](int fd) { return write(*worker.content, image.manifest, fd, lo); });
}

}  // namespace

absl::StatusOr<BuiltImage> AssembleImage(const Worker& worker, LayerStore& layers,
                                         const ImageSpec& spec, cache::Lease* lease) {
  std::vector<std::string> chain;
  if (!spec.top_snapshot.empty()) {
    KILN_ASSIGN_OR_RETURN(chain, layers.Chain(spec.top_snapshot));
  }
  oci::Image img;
  if (spec.base) img = *spec.base;
  img.diff_ids.clear();
  img.config = spec.config;
  if (spec.author) img.author = *spec.author;
  // Without SOURCE_DATE_EPOCH the image is dated by its top snapshot's creation, so a fully
  // cached rebuild gives the same image digest.
  std::optional<int64_t> created = spec.source_date_epoch;
  if (!created) created = spec.created;
  if (!created && !spec.top_snapshot.empty()) {
    auto info = worker.snapshots->Stat(spec.top_snapshot);
    if (info.ok()) created = absl::ToUnixSeconds(info->created);
  }
  img.created = Rfc3339(created);
  oci::Manifest m;
  m.media_type = std::string(oci::kMediaTypeOciManifest);
  int64_t total = 0;
  for (const std::string& s : chain) {
    KILN_ASSIGN_OR_RETURN(LayerInfo l, HeldLayerOf(worker, layers, s, spec, lease));
    oci::Descriptor d;
    d.media_type = l.media_type;
    d.digest = l.digest;
    d.size = l.size;
    m.layers.push_back(d);
    img.diff_ids.push_back(l.diff_id);
    total += l.size;
  }
  // History: the base's, then ours; when the layer count disagrees (the frontend made more or
  // fewer layers than snapshots we have), describe each extra layer generically.
  std::vector<oci::History> hist = spec.base ? spec.base->history : std::vector<oci::History>{};
  size_t base_layers = 0;
  for (const auto& h : hist) base_layers += h.empty_layer ? 0 : 1;
  for (oci::History h : spec.history) {
    if (h.created.empty()) h.created = img.created;
    hist.push_back(std::move(h));
  }
  size_t layered = 0;
  for (const auto& h : hist) layered += h.empty_layer ? 0 : 1;
  while (layered < img.diff_ids.size()) {
    hist.push_back(oci::History{img.created, "kiln: layer", "", "", false});
    ++layered;
  }
  if (layered > img.diff_ids.size()) {
    // Mark surplus non-empty entries (from the end) as empty so the counts match.
    for (auto it = hist.rbegin(); it != hist.rend() && layered > img.diff_ids.size(); ++it) {
      if (!it->empty_layer) {
        it->empty_layer = true;
        --layered;
      }
    }
  }
  (void)base_layers;
  img.history = std::move(hist);
  std::string config_json = oci::SerializeImage(img);
  KILN_ASSIGN_OR_RETURN(cache::BlobInfo cfg, PutIfMissing(*worker.content, lease, config_json));
  m.config.media_type = std::string(oci::kMediaTypeOciConfig);
  m.config.digest = cfg.digest;
  m.config.size = cfg.size;
  std::string manifest_json = oci::SerializeManifest(m);
  KILN_ASSIGN_OR_RETURN(cache::BlobInfo man, PutIfMissing(*worker.content, lease, manifest_json));
  BuiltImage out;
  out.manifest.media_type = m.media_type;
  out.manifest.digest = man.digest;
  out.manifest.size = man.size;
  out.manifest.platform = img.platform();
  out.config_digest = cfg.digest;
  out.size_bytes = total + cfg.size + man.size;
  for (const auto& l : m.layers) out.blobs.push_back(l.digest);
  out.blobs.push_back(cfg.digest);
  out.blobs.push_back(man.digest);
  return out;
}

absl::Status ExportLocal(const Worker& worker, const std::string& snapshot,
                         const std::string& dest) {
  if (::mkdir(dest.c_str(), 0755) != 0 && errno != EEXIST) {
    return base::ErrnoError(absl::StrCat("create output dir '", dest, "'"));
  }
  base::UniqueFd dst(::open(dest.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dst) return base::ErrnoError(absl::StrCat("open output dir '", dest, "'"));
  if (snapshot.empty()) return absl::OkStatus();
  std::string key = NewSnapshotKey("export");
  KILN_ASSIGN_OR_RETURN(auto mounts, worker.snapshots->View(key, snapshot));
  absl::Cleanup remove = [&] { (void)worker.snapshots->Remove(key); };
  KILN_ASSIGN_OR_RETURN(MountedSnapshot mounted, MountedSnapshot::Mount(worker, mounts));
  KILN_ASSIGN_OR_RETURN(base::UniqueFd src, mounted.OpenRoot());
  CopyOptions o;
  o.sources = {"/"};
  o.dest = "/";
  o.allow_wildcards = false;
  o.preserve_owner = true;
  KILN_ASSIGN_OR_RETURN(CopyStats stats, CopyFiles(src.get(), dst.get(), o));
  (void)stats;
  src.reset();
  return mounted.Unmount();
}

absl::Status ExportImage(const Worker& worker, image::ImageStore& store, const BuiltImage& image,
                         const std::string& top_snapshot, const Output& out) {
  if (const auto* o = std::get_if<ImageOutput>(&out)) {
    for (const std::string& name : o->names) KILN_RETURN_IF_ERROR(store.Put(name, image.manifest));
    return absl::OkStatus();
  }
  if (const auto* o = std::get_if<LocalOutput>(&out)) {
    return ExportLocal(worker, top_snapshot, o->dest);
  }
  if (const auto* o = std::get_if<OciLayoutOutput>(&out)) {
    oci::LayoutWriteOptions lo;
    lo.ref_name = o->name;
    return oci::WriteOciLayoutDir(*worker.content, image.manifest, o->dest, lo);
  }
  if (const auto* o = std::get_if<OciArchiveOutput>(&out)) {
    return WriteArchive(worker, image, o->dest, o->name, oci::WriteOciArchive);
  }
  if (const auto* o = std::get_if<DockerArchiveOutput>(&out)) {
    return WriteArchive(worker, image, o->dest, o->name, oci::WriteDockerArchive);
  }
  return absl::InternalError(
      absl::StrCat("export: no exporter for --output type=", OutputType(out)));
}

}  // namespace kiln::engine
