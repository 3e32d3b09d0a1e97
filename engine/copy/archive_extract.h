// TarArchive: ADD's unpacking of a local tar archive, with BuildKit's rules
// (solver/llbsolver/file/unpack*.go), for untrusted input.
//
// Detection is by content, never by name: the file is an archive when it decompresses
// (identity, gzip, bzip2, xz or zstd -- libarchive's built-in filters only, no external
// programs) and yields one valid tar header. Anything else (an empty file, a gzip of a
// non-tar, a tar of only zero blocks) is not an archive and is copied as a plain file.
//
// Extraction into a destination directory fd, which acts as the root of the archive:
//   - Entry paths: a leading '/' is dropped and the path cleaned lexically; one that still
//     climbs out ("../x", "a/../../x") is InvalidArgument ("archive path ... is outside the
//     extraction root"). An entry for the root itself is ignored. Whiteout names (".wh.x")
//     are ordinary files, as in BuildKit (this is not a layer).
//   - Symlinks met on the way to an entry resolve inside the root: an absolute target is
//     taken relative to the root, a relative target that leaves the root is InvalidArgument.
//     The final component is never followed (a directory entry follows it, as BuildKit does).
//     Every open then uses openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS) on the resolved,
//     symlink-free path, so nothing outside the root is ever written.
//   - Hardlink targets resolve the same way (the root itself, or a missing target, is an
//     error), so a link can only share an inode that is inside the root.
//   - An existing entry is replaced unless both are directories (directories merge: the
//     entry's owner, mode and mtime are applied to the existing one).
//   - Missing parents are created 0755, owned 0:0. Regular files, directories, symlinks,
//     hardlinks and FIFOs are supported; device nodes are InvalidArgument (as in BuildKit).
//   - Owner: the entry's uid/gid, or --chown's for every entry when given; an id the user
//     namespace does not map is InvalidArgument naming the entry. Mode: the entry's 07777
//     (setuid/setgid/sticky kept; --chmod does not apply). Times: the entry's mtime (atime =
//     the later of atime and mtime); directories get theirs after all entries.
//   - xattrs are set best effort (errors ignored, overlayfs' own names skipped).
// A corrupt stream after the first header is DataLoss; the destination may then be partly
// written (the caller's snapshot is discarded). Not thread-safe; one object per archive.
#ifndef KILN_ENGINE_COPY_ARCHIVE_EXTRACT_H_
#define KILN_ENGINE_COPY_ARCHIVE_EXTRACT_H_

#include <sys/types.h>

#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "engine/copy/copy.h"

namespace kiln::engine {

struct ExtractOptions {
  std::optional<uid_t> uid;  // --chown: overrides every entry's owner
  std::optional<gid_t> gid;
};

class TarArchive {
 public:
  // Reads from `fd` (borrowed; must stay open while the object lives). `name` names the
  // archive in errors. Returns nullptr when the content is not a tar archive.
  // FailedPrecondition when libarchive lacks a built-in decompressor.
  static absl::StatusOr<std::unique_ptr<TarArchive>> Open(int fd, std::string name);
  ~TarArchive();
  TarArchive(const TarArchive&) = delete;
  TarArchive& operator=(const TarArchive&) = delete;

  // Unpacks every entry under the directory `dest_fd` (borrowed). Call once.
  absl::StatusOr<CopyStats> ExtractTo(int dest_fd, const ExtractOptions& options);

  struct Impl;

 private:
  explicit TarArchive(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace kiln::engine

#endif  // KILN_ENGINE_COPY_ARCHIVE_EXTRACT_H_
