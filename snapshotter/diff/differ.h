// Differ: writes an OCI layer (PAX tar, optionally gzip/zstd) describing a filesystem change.
//
// Two sources of change:
//   - DiffUpperDir: an overlayfs upperdir (fast path: only the upper dir is walked). Overlay
//     whiteouts (char device 0/0, or a file carrying trusted.overlay.whiteout /
//     user.overlay.whiteout) become OCI ".wh.<name>" entries; directories with
//     {trusted,user}.overlay.opaque = "y" get a ".wh..wh..opq" entry right after their own.
//     Overlay's own xattrs ({trusted,user}.overlay.*) are never copied into the layer.
//     Redirected or metacopy entries ({trusted,user}.overlay.redirect/metacopy) are rejected
//     with FailedPrecondition (Kiln mounts overlay without redirect_dir/metacopy).
//   - DiffTrees: two directory trees compared (native snapshotter). An entry is changed if its
//     type, mode, uid, gid, size, mtime (ns), symlink target, device number or xattrs differ,
//     or its content differs; content is compared when the mtime has zero nanoseconds (a
//     copy or a tool may have truncated it, hiding a change) or always_compare_content is set.
//     Two names of the same inode are never compared.
//     Entries only in lower become whiteouts. Unchanged parent directories of changed entries
//     are included so that ownership and modes survive the apply.
//
// Output (both): entries in depth-first order with each directory's children sorted by their
// byte-wise name in the tar, directories before their contents; numeric uid/gid with empty
// uname/gname; whole-second mtimes, clamped to source_date_epoch when set; hardlinks (same
// inode within the layer) as tar hardlinks to the first path; symlinks, fifos, char/block
// devices; sockets are skipped (as Docker does). The tar is streamed through LayerEncoder:
// memory use is bounded by compression buffers and one directory listing at a time.
//
// Thread safety: each call is independent; the trees must not change during the call (a file
// that changes size mid-read gives FailedPrecondition).
// Errors: NotFound / PermissionDenied from the file system with "operation 'path': cause";
// whatever the sink returns.
#ifndef KILN_SNAPSHOTTER_DIFF_DIFFER_H_
#define KILN_SNAPSHOTTER_DIFF_DIFFER_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "base/mount.h"
#include "snapshotter/diff/layer.h"
#include "snapshotter/diff/layer_encoder.h"
#include "snapshotter/diff/sink.h"

namespace kiln::snapshotter {

struct DiffOptions {
  EncoderOptions encoder;
  // SOURCE_DATE_EPOCH: when set, every mtime later than it is written as it.
  std::optional<int64_t> source_date_epoch;
  // DiffTrees: also compare the content of regular files whose metadata (incl. a nanosecond
  // mtime) is identical. Off by default, as containerd: reads both trees in full.
  bool always_compare_content = false;
};

// Layer from an overlay upperdir. `sink` is borrowed.
absl::StatusOr<LayerDescriptor> DiffUpperDir(const std::string& upperdir,
                                             const DiffOptions& options, ByteSink* sink);

// Layer from comparing `lower` (may be empty: no parent) with `upper`.
absl::StatusOr<LayerDescriptor> DiffTrees(const std::string& lower, const std::string& upper,
                                          const DiffOptions& options, ByteSink* sink);

// Layer between two mount descriptions (what a snapshotter's Mounts() returns; `lower` empty =
// no parent). If `upper` is a single overlay mount with an upperdir and its lowerdirs are
// exactly what `lower` shows, the upperdir fast path is used without mounting anything. If
// each side is empty or a single bind mount, the bind sources are compared directly.
// Otherwise both are mounted read-only under a private temp dir (base::MountAt; needs a mount
// namespace where the caller may mount, e.g. after base::EnterRootlessNamespace) and compared.
absl::StatusOr<LayerDescriptor> DiffMounts(const std::vector<base::Mount>& lower,
                                           const std::vector<base::Mount>& upper,
                                           const DiffOptions& options, ByteSink* sink);

}  // namespace kiln::snapshotter

#endif  // KILN_SNAPSHOTTER_DIFF_DIFFER_H_
