// Applier: unpacks an OCI layer (gzip, zstd or plain tar, detected) into a directory.
//
// The target is a plain directory or a mounted overlay of an active snapshot (deleting
// through an overlay mount makes the kernel write its own whiteouts, so no special mode is
// needed). The layer is untrusted input:
//   - Paths are relative to the target. Leading '/' and "./" are stripped (absolute paths are
//     neutralised, as Docker does); an entry whose path or hardlink target contains a ".."
//     component is rejected with InvalidArgument.
//   - Every parent directory is resolved from a target dirfd with
//     openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS), so symlinks (absolute or relative,
//     chained) resolve inside the target; entries are created with *at() calls relative to
//     that parent fd and never follow a final symlink. Missing parents are created (0755).
//   - Hardlink targets resolve the same way, so a link can only point at a file inside the
//     target; a missing target is NotFound.
//   - Device nodes: created when the kernel permits; when mknod fails with EPERM (rootless,
//     in a user namespace) the entry is skipped and a warning recorded.
//   - setuid/setgid/sticky bits are applied as plain mode bits (nothing is executed).
//   - Ownership: chown to the entry's uid/gid; an id not mapped in the current user
//     namespace fails with InvalidArgument (UnmappedIds::kFail, default) or is mapped to 0
//     with a warning (UnmappedIds::kMapToRoot).
//   - xattrs are set where permitted; EPERM/ENOTSUP (e.g. trusted.* when rootless, user.* on
//     a symlink) skips that xattr with a warning.
//   - Whiteouts: ".wh.<name>" removes <name> (a missing one is fine); ".wh..wh..opq" removes
//     every child of its directory that this layer did not itself create. Other ".wh..wh.*"
//     names (aufs metadata) are ignored.
//   - Modes and mtimes (whole seconds, atime = mtime) are set after the entry's data;
//     directory mtimes after all of the layer's entries.
//   - An entry for the root itself ("./") is ignored.
// A corrupt or truncated layer gives DataLoss (or InvalidArgument for a malformed header);
// the target may then be partly written and the caller removes it (the snapshot). Nothing
// outside the target is ever written.
// Thread safety: independent calls are safe on different targets.
#ifndef KILN_SNAPSHOTTER_DIFF_APPLIER_H_
#define KILN_SNAPSHOTTER_DIFF_APPLIER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "base/digest.h"
#include "snapshotter/diff/layer.h"
#include "snapshotter/diff/sink.h"

namespace kiln::snapshotter {

enum class UnmappedIds { kFail, kMapToRoot };

struct ApplyOptions {
  UnmappedIds unmapped_ids = UnmappedIds::kFail;
  // When set, the sha256 of the uncompressed stream must equal it (the image config's
  // rootfs.diff_ids entry); a mismatch is DataLoss, reported after the whole stream is read.
  base::Digest expected_diff_id;
};

struct ApplyResult {
  base::Digest diff_id;  // sha256 of the whole uncompressed tar stream
  int64_t uncompressed_size = 0;
  Compression compression = Compression::kNone;
  int64_t entries = 0;                // tar entries processed (incl. whiteouts)
  std::vector<std::string> warnings;  // skipped devices, xattrs, remapped ids
};

// Applies the layer read from `layer` (borrowed) onto the existing directory `target`.
absl::StatusOr<ApplyResult> ApplyLayer(ByteSource* layer, const std::string& target,
                                       const ApplyOptions& options = {});

}  // namespace kiln::snapshotter

#endif  // KILN_SNAPSHOTTER_DIFF_APPLIER_H_
