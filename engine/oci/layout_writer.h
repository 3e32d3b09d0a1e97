// Writes images from a ContentStore in the three on-disk exchange formats:
// - an OCI image layout directory (oci-layout, index.json, blobs/sha256/<hex>);
// - an oci-archive: the same layout as a tar stream;
// - a docker-archive (`docker save` format): manifest.json with Config/RepoTags/Layers naming
//   files in the tar, plus oci-layout and index.json as Docker >= 25 writes them, so the tar
//   also reads as an OCI layout.
// Blobs are streamed from the store (OpenRead, or ReadAll for stores without files), never
// held whole in memory. Tar output is deterministic: sorted entries, uid/gid 0, mtime 0.
// The exporter reuses these; Kiln's tests check the output with skopeo and umoci.
//
// Errors: NotFound when a blob is missing from the store, InvalidArgument for a malformed
// manifest/index or a bad `ref_name`, and errno-based codes for I/O ("write 'path': ...").
// Thread safety: the functions share no state; the store must be thread-safe (it is).
#ifndef KILN_ENGINE_OCI_LAYOUT_WRITER_H_
#define KILN_ENGINE_OCI_LAYOUT_WRITER_H_

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "cache/content_store.h"
#include "engine/oci/descriptor.h"

namespace kiln::engine::oci {

struct LayoutWriteOptions {
  // Stored as the index entry's "org.opencontainers.image.ref.name" and
  // "io.containerd.image.name" annotations (a normalized reference like
  // "docker.io/library/busybox:1.35"). Empty: no annotations.
  std::string ref_name;
};

// Writes the image whose top descriptor is `root` (a manifest or an index; every blob it
// reaches is copied) into the layout directory `dir`, creating it if needed. An existing
// layout is extended: blobs already present are kept, and an index.json entry with the same
// ref name is replaced. Files are written to temp names and renamed into place.
absl::Status WriteOciLayoutDir(cache::ContentStore& store, const Descriptor& root,
                               const std::string& dir, const LayoutWriteOptions& options = {});

// Writes the layout as a tar stream (an oci-archive) to `out_fd` (not closed; caller owns).
absl::Status WriteOciArchive(cache::ContentStore& store, const Descriptor& root, int out_fd,
                             const LayoutWriteOptions& options = {});

// Writes a docker-archive to `out_fd`. `root` must be a manifest, or an index that has a
// linux/amd64 manifest. RepoTags holds the familiar form of options.ref_name (if any).
absl::Status WriteDockerArchive(cache::ContentStore& store, const Descriptor& root, int out_fd,
                                const LayoutWriteOptions& options = {});

}  // namespace kiln::engine::oci

#endif  // KILN_ENGINE_OCI_LAYOUT_WRITER_H_
