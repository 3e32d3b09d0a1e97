// ImageSourceOp: FROM <image>. Unpacks the image's layers (already in the content store)
// into a chain of committed snapshots named by OCI chain ID ("layer-<chainid hex>"), so every
// image sharing a base shares its snapshots, and records each layer's original blob for
// export reuse. Keyed by the platform manifest digest.
#ifndef KILN_ENGINE_OPS_IMAGE_SOURCE_OP_H_
#define KILN_ENGINE_OPS_IMAGE_SOURCE_OP_H_

#include <string>

#include "base/digest.h"
#include "engine/ops/layers.h"
#include "engine/ops/worker.h"
#include "engine/solver/op.h"

namespace kiln::engine {

class ImageSourceOp : public solver::Op {
 public:
  ImageSourceOp(const Worker* worker, LayerStore* layers, std::string ref, base::Digest manifest);
  absl::StatusOr<base::Digest> CacheKey(solver::ExecContext& ctx,
                                        const std::vector<solver::InputRef>& inputs) const override;
  absl::StatusOr<solver::ResultRef> Exec(solver::ExecContext& ctx,
                                         const std::vector<solver::InputRef>& inputs) const override;

 private:
  const Worker* worker_;
  LayerStore* layers_;
  std::string ref_;
  base::Digest manifest_;
};

// Unpacks the image with manifest `manifest` and returns the top snapshot ("" for no layers).
// With worker.leases, every layer snapshot of the chain is held in `*hold` before it is
// trusted (an unpacked layer that GC is removing is waited for and unpacked again), so the
// chain stays until the caller drops the hold.
absl::StatusOr<std::string> UnpackImage(const Worker& worker, LayerStore& layers,
                                        const base::Digest& manifest,
                                        solver::ExecContext* ctx = nullptr,
                                        cache::Lease* hold = nullptr);

}  // namespace kiln::engine

#endif  // KILN_ENGINE_OPS_IMAGE_SOURCE_OP_H_
