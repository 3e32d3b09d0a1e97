// The source ops' constructors for the OpFactory: scratch (the empty tree), the build context
// (read in place), FROM <image> (ImageSourceOp, unpacked into layer snapshots), and the
// sources this engine cannot read yet (ADD from a URL or a git repository), which fail the
// build naming the Dockerfile line.
#ifndef KILN_ENGINE_OPS_SOURCE_OPS_H_
#define KILN_ENGINE_OPS_SOURCE_OPS_H_

#include <string>

#include "engine/ops/layers.h"
#include "engine/ops/op_factory.h"
#include "engine/ops/worker.h"

namespace kiln::engine {

// Registers kScratch, kLocal (the context at `context_dir`, absolute), kHttp and kGit.
void RegisterSourceOps(OpFactory* factory, std::string context_dir);

// Registers kImage: FROM unpacks the image of the pinned manifest from `worker`'s content
// store. Both pointers are borrowed and must outlive the factory's ops.
void RegisterImageSourceOp(OpFactory* factory, const Worker* worker, LayerStore* layers);

}  // namespace kiln::engine

#endif  // KILN_ENGINE_OPS_SOURCE_OPS_H_
