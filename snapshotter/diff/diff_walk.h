// Internal: the tree walks behind the Differ. They emit tar entries (headers + file data) in
// the documented order into a TarWriter; see differ.h for the semantics.
#ifndef KILN_SNAPSHOTTER_DIFF_DIFF_WALK_H_
#define KILN_SNAPSHOTTER_DIFF_DIFF_WALK_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "snapshotter/diff/tar_writer.h"

namespace kiln::snapshotter::internal {

struct WalkOptions {
  std::optional<int64_t> source_date_epoch;
  bool always_compare_content = false;
};

// Walks an overlay upperdir.
absl::Status WalkUpperDir(const std::string& upperdir, const WalkOptions& options, TarWriter* out);

// Compares `lower` (empty = nothing) with `upper`.
absl::Status WalkTrees(const std::string& lower, const std::string& upper,
                       const WalkOptions& options, TarWriter* out);

}  // namespace kiln::snapshotter::internal

#endif  // KILN_SNAPSHOTTER_DIFF_DIFF_WALK_H_
