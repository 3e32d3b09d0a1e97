// RunStoredImage: runs an image from a state root's image store without a daemon: its layers
// are unpacked (hardened applier) into a private temp rootfs that is removed afterwards, and
// the process runs in the sandbox with the image's ENTRYPOINT/CMD, ENV, WORKDIR and USER.
// Uses only the image store and content store, which are safe to share with a running kilnd.
// The caller must be root or inside its rootless namespace (base::EnterRootlessNamespace).
#ifndef KILN_ENGINE_CORE_RUN_IMAGE_H_
#define KILN_ENGINE_CORE_RUN_IMAGE_H_

#include <string>

#include "absl/status/statusor.h"
#include "engine/core/engine.h"
#include "engine/oci/image.h"
#include "sandbox/sandbox.h"

namespace kiln::engine {

// The sandbox spec for running `img`: ENTRYPOINT + CMD (or + options.args), the image's ENV
// with options.env overrides and a default PATH, WORKDIR, USER, network ("" = the default
// given), timeout and output callbacks. The caller sets rootfs. InvalidArgument when there is
// nothing to run.
absl::StatusOr<sandbox::Spec> ImageRunSpec(const std::string& ref, const oci::Image& img,
                                           const Engine::RunOptions& options,
                                           const std::string& default_network);

// Runs `spec`, cancelling it when `cancel` (may be null) fires. Returns the exit code
// (128+signal when killed by a signal).
absl::StatusOr<int> RunWithCancel(const sandbox::Sandbox& sandbox, sandbox::Spec spec,
                                  solver::Cancellation* cancel);

// Returns the exit code (128+signal when killed by a signal).
absl::StatusOr<int> RunStoredImage(const std::string& state_root, const std::string& ref,
                                   const Engine::RunOptions& options);

}  // namespace kiln::engine

#endif  // KILN_ENGINE_CORE_RUN_IMAGE_H_
