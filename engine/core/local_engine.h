// LocalEngine: the Engine over a state root on this machine (see engine.h).
//
// Layout of the state root:
//   content/    blobs (FsContentStore)          images/    the image store (index.json)
//   snapshots/  overlay or native snapshots     cache/     cache index (LMDB)
//   layers/     snapshot -> layer blob memos    tmp/       mount points and staging
// The process must be real root or inside its own rootless user namespace
// (base::EnterRootlessNamespace) before opening an engine.
#ifndef KILN_ENGINE_CORE_LOCAL_ENGINE_H_
#define KILN_ENGINE_CORE_LOCAL_ENGINE_H_

#include "engine/core/engine.h"

namespace kiln::engine {

absl::StatusOr<std::unique_ptr<Engine>> OpenLocalEngine(const EngineOptions& options);

}  // namespace kiln::engine

#endif  // KILN_ENGINE_CORE_LOCAL_ENGINE_H_
