#include "engine/registry/registry_scan.h"

#include "base/status.h"
#include "engine/oci/reference.h"

namespace kiln::engine::registry {

absl::StatusOr<ResolvedImage> RegistryScan::Resolve(std::string_view ref,
                                                    std::string_view platform) {
  KILN_ASSIGN_OR_RETURN(oci::Reference parsed, oci::NormalizeReference(ref));
  if (!platform.empty()) {
    KILN_RETURN_IF_ERROR(oci::Platform::Parse(platform).status());
  }
  absl::StatusOr<ResolvedImage> local = inner_->Resolve(ref, platform);
  bool needs_registry = policy_ != PullPolicy::kNever &&
                        (!local.ok() || (policy_ == PullPolicy::kAlways && parsed.digest.empty()));
  if (needs_registry) repos_.insert(parsed.domain + "/" + parsed.path);
  if (local.ok()) return local;
  ResolvedImage placeholder;  // never solved: this pass only lowers
  placeholder.ref = parsed.String();
  placeholder.manifest_digest = base::Digest::Of(placeholder.ref);
  placeholder.config_digest = placeholder.manifest_digest;
  return placeholder;
}

}  // namespace kiln::engine::registry
