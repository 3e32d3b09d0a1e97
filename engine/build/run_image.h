// RunStoredImage: runs an image from a state root's image store without a daemon: its layers
// are unpacked (hardened applier) into a private temp rootfs that is removed afterwards, and
// the process runs in the sandbox with the image's ENTRYPOINT/CMD, ENV, WORKDIR and USER.
// Uses only the image store and content store, which are safe to share with a running kilnd.
// The caller must be root or inside its rootless namespace (base::EnterRootlessNamespace).
#ifndef KILN_ENGINE_BUILD_RUN_IMAGE_H_
#define KILN_ENGINE_BUILD_RUN_IMAGE_H_

#include <string>

#include "absl/status/statusor.h"
#include "engine/build/engine.h"

namespace kiln::engine {

// Returns the exit code (128+signal when killed by a signal).
absl::StatusOr<int> RunStoredImage(const std::string& state_root, const std::string& ref,
                                   const Engine::RunOptions& options);

}  // namespace kiln::engine

#endif  // KILN_ENGINE_BUILD_RUN_IMAGE_H_
