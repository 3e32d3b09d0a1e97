// ImageTransfer::ResolverFor: FROM resolution with a pull policy (transfer.h).
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/status.h"
#include "engine/oci/reference.h"
#include "engine/registry/transfer.h"

namespace kiln::engine::registry {
namespace {

class PullingResolver : public ImageResolver {
 public:
  PullingResolver(ImageTransfer* transfer, image::ImageStore* store, ImageResolver* inner,
                  PullPolicy policy, CredentialMap credentials)
      : transfer_(transfer),
        store_(store),
        inner_(inner),
        policy_(policy),
        credentials_(std::move(credentials)) {}

  absl::StatusOr<ResolvedImage> Resolve(std::string_view ref, std::string_view platform) override {
    KILN_ASSIGN_OR_RETURN(oci::Reference parsed, oci::NormalizeReference(ref));
    oci::Platform want = oci::Platform::Default();
    if (!platform.empty()) {
      KILN_ASSIGN_OR_RETURN(want, oci::Platform::Parse(platform));
    }
    if (policy_ == PullPolicy::kNever) return inner_->Resolve(ref, platform);
    if (policy_ == PullPolicy::kAlways && parsed.digest.empty()) {
      KILN_RETURN_IF_ERROR(Revalidate(parsed, want));
      return inner_->Resolve(ref, platform);
    }
    absl::StatusOr<ResolvedImage> local = inner_->Resolve(ref, platform);
    if (!absl::IsNotFound(local.status())) return local;
    absl::StatusOr<PullResult> pulled = transfer_->Pull(parsed.String(), want, credentials_);
    if (!pulled.ok()) {
      return base::Annotate(pulled.status(),
                            absl::StrCat("resolve image '", base::AsAbsl(ref),
                                         "': not in the local store, and pulling it failed"));
    }
    return inner_->Resolve(ref, platform);
  }

 private:
  // --pull=always on a tag: one manifest HEAD, and nothing more when the registry's digest is
  // the one stored (or, for an index, the index kept from the last pull). Otherwise a pull that
  // reads whatever manifests and blobs the content store has and fetches only the rest.
  absl::Status Revalidate(const oci::Reference& ref, const oci::Platform& want) {
    absl::StatusOr<oci::Descriptor> remote = transfer_->Resolve(ref, credentials_);
    if (!remote.ok()) {
      return base::Annotate(remote.status(), absl::StrCat("revalidate '", ref.String(), "'"));
    }
    absl::StatusOr<image::ImageRecord> local = store_->Get(ref.String());
    if (local.ok() && local->target.digest == remote->digest) return absl::OkStatus();
    return transfer_->Pull(ref.String(), want, credentials_, *remote).status();
  }

  ImageTransfer* const transfer_;
  image::ImageStore* const store_;
  ImageResolver* const inner_;
  const PullPolicy policy_;
  const CredentialMap credentials_;
};

}  // namespace

std::unique_ptr<ImageResolver> ImageTransfer::ResolverFor(ImageResolver* inner, PullPolicy policy,
                                                          CredentialMap credentials) {
  return std::make_unique<PullingResolver>(this, store_, inner, policy, std::move(credentials));
}

}  // namespace kiln::engine::registry
