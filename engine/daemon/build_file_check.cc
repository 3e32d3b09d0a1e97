// kilnd's check of the Dockerfile and ignore file a caller names (build_file_check.h).
#include "engine/daemon/build_file_check.h"

#include "absl/strings/str_cat.h"
#include "base/status.h"
#include "engine/core/build_files.h"

namespace kiln::engine::daemon {

absl::Status CheckBuildFiles(const PeerCredentials& peer, const BuildRequest& request) {
  absl::StatusOr<BuildFiles> files =
      ReadBuildFiles(request.context_dir, request.dockerfile_dir, request.dockerfile_name);
  if (!files.ok()) {
    return absl::Status(files.status().code(), absl::StrCat("solve: ", files.status().message()));
  }
  KILN_RETURN_IF_ERROR(CheckPeerCanRead(peer, files->dockerfile_path));
  if (!files->ignore_path.empty()) {
    KILN_RETURN_IF_ERROR(CheckPeerCanRead(peer, files->ignore_path));
  }
  return absl::OkStatus();
}

}  // namespace kiln::engine::daemon
