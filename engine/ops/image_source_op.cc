#include "engine/ops/image_source_op.h"

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "base/status.h"
#include "base/unique_fd.h"
#include "base/userns.h"
#include "cache/cache_key.h"
#include "engine/oci/image.h"
#include "engine/oci/manifest.h"
#include "engine/oci/platform_image.h"
#include "engine/ops/results.h"
#include "snapshotter/diff/applier.h"
#include "snapshotter/diff/sink.h"

namespace kiln::engine {

ImageSourceOp::ImageSourceOp(const Worker* worker, LayerStore* layers, std::string ref,
                             base::Digest manifest)
    : worker_(worker), layers_(layers), ref_(std::move(ref)), manifest_(std::move(manifest)) {}

absl::StatusOr<base::Digest> ImageSourceOp::CacheKey(solver::ExecContext&,
                                                     const std::vector<solver::InputRef>&) const {
  return cache::ImageSourceCacheKey(manifest_);
}

absl::StatusOr<solver::ResultRef> ImageSourceOp::Exec(
    solver::ExecContext& ctx, const std::vector<solver::InputRef>&) const {
  cache::Lease hold;
  if (worker_->leases != nullptr) hold = worker_->leases->NewLease();
  KILN_ASSIGN_OR_RETURN(std::string top,
                        UnpackImage(*worker_, *layers_, manifest_, &ctx, &hold));
  if (top.empty() || hold.holds() == 0) return std::make_shared<SnapshotResult>(top);
  return std::make_shared<SnapshotResult>(top, std::move(hold));
}

namespace {

// Holds snapshot `name` in `hold`, waiting while GC is removing it (the hold then succeeds
// on a name that no longer exists, and the caller unpacks it again).
absl::Status HoldLayer(cache::Lease* hold, const std::string& name, solver::ExecContext* ctx) {
  absl::Time deadline = absl::Now() + absl::Minutes(2);
  for (;;) {
    absl::Status s = hold->HoldSnapshot(name);
    if (!absl::IsAborted(s)) return s;
    if (ctx != nullptr && ctx->cancel().cancelled()) return absl::CancelledError("unpack cancelled");
    if (absl::Now() > deadline) {
      return absl::DeadlineExceededError(
          absl::StrCat("hold '", name, "': still being garbage-collected after 2 minutes"));
    }
    absl::SleepFor(absl::Milliseconds(5));
  }
}

}  // namespace

absl::StatusOr<std::string> UnpackImage(const Worker& w, LayerStore& layers,
                                        const base::Digest& manifest_digest,
                                        solver::ExecContext* ctx, cache::Lease* hold) {
  KILN_ASSIGN_OR_RETURN(oci::PlatformImage platform_image,
                        oci::ReadManifestImage(*w.content, manifest_digest));
  const oci::Manifest& manifest = platform_image.manifest;
  const oci::Image& image = platform_image.config;
  if (image.diff_ids.size() != manifest.layers.size()) {
    return absl::DataLossError(absl::StrCat("image ", manifest_digest.str(), ": ",
                                            manifest.layers.size(), " layers but ",
                                            image.diff_ids.size(), " diff_ids"));
  }
  snapshotter::ApplyOptions apply_opts;
  if (base::MappedUidCount() < 65536) apply_opts.unmapped_ids = snapshotter::UnmappedIds::kMapToRoot;
  std::string parent;
  std::string chain;
  int64_t done = 0, total = 0;
  for (const auto& l : manifest.layers) total += l.size;
  for (size_t i = 0; i < manifest.layers.size(); ++i) {
    const oci::Descriptor& layer = manifest.layers[i];
    const base::Digest& diff_id = image.diff_ids[i];
    chain = i == 0 ? diff_id.str() : base::Digest::Of(chain + " " + diff_id.str()).str();
    std::string name = "layer-" + base::Digest::Parse(chain)->hex();
    if (hold != nullptr && w.leases != nullptr) KILN_RETURN_IF_ERROR(HoldLayer(hold, name, ctx));
    if (!w.snapshots->Stat(name).ok()) {
      if (ctx != nullptr && ctx->cancel().cancelled()) return absl::CancelledError("unpack cancelled");
      std::string key = NewSnapshotKey("unpack");
      KILN_ASSIGN_OR_RETURN(auto mounts, w.snapshots->Prepare(key, parent));
      absl::Status s = [&]() -> absl::Status {
        KILN_ASSIGN_OR_RETURN(MountedSnapshot mounted, MountedSnapshot::Mount(w, mounts));
        KILN_ASSIGN_OR_RETURN(int raw_fd, w.content->OpenRead(layer.digest));
        base::UniqueFd fd(raw_fd);
        snapshotter::FdSource src(fd.get());
        KILN_ASSIGN_OR_RETURN(snapshotter::ApplyResult r,
                              snapshotter::ApplyLayer(&src, mounted.path(), apply_opts));
        if (r.diff_id != diff_id) {
          return absl::DataLossError(absl::StrCat("layer ", layer.digest.str(), " unpacks to ",
                                                  r.diff_id.str(), ", the image says ",
                                                  diff_id.str()));
        }
        return mounted.Unmount();
      }();
      if (s.ok()) {
        s = w.snapshots->Commit(name, key);
        if (s.code() == absl::StatusCode::kAlreadyExists) s = absl::OkStatus();  // raced
      }
      if (!s.ok() || w.snapshots->Stat(key).ok()) (void)w.snapshots->Remove(key);
      if (!s.ok()) return base::Annotate(s, absl::StrCat("unpack layer ", layer.digest.str()));
      KILN_RETURN_IF_ERROR(layers.Record(name, LayerInfo{layer.digest, diff_id, layer.size,
                                                         layer.media_type}));
    }
    done += layer.size;
    if (ctx != nullptr) ctx->Progress(done, total);
    parent = name;
  }
  return parent;
}

}  // namespace kiln::engine
