#include "engine/registry/compress.h"

#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/status.h"
#include "base/unique_fd.h"
#include "snapshotter/diff/layer.h"

namespace kiln::engine::registry {
namespace {

using base::AsAbsl;
constexpr size_t kChunk = 1 << 20;

// Streams `fd` through a compressor into `writer`. `step(in, in_len, last, out)` appends
// compressed bytes to `out`.
template <typename Step>
absl::Status Pump(int fd, cache::ContentWriter& writer, const std::string& what, Step step) {
  std::vector<char> in(kChunk);
  std::string out;
  for (;;) {
    ssize_t n = ::read(fd, in.data(), in.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return base::ErrnoError(absl::StrCat("compress ", what));
    out.clear();
    KILN_RETURN_IF_ERROR(step(in.data(), static_cast<size_t>(n), n == 0, out));
    KILN_RETURN_IF_ERROR(writer.Write(out));
    if (n == 0) return absl::OkStatus();
  }
}

absl::Status Gzip(int fd, cache::ContentWriter& writer, const std::string& what) {
  z_stream z{};
  if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) !=
      Z_OK) {
    return absl::InternalError(absl::StrCat("compress ", what, ": deflateInit2 failed"));
  }
  std::unique_ptr<z_stream, int (*)(z_stream*)> guard(&z, deflateEnd);
  return Pump(fd, writer, what, [&](char* data, size_t len, bool last, std::string& out) {
    z.next_in = reinterpret_cast<Bytef*>(data);
    z.avail_in = static_cast<uInt>(len);
    char buf[1 << 16];
    int rc = Z_OK;
    do {
      z.next_out = reinterpret_cast<Bytef*>(buf);
      z.avail_out = sizeof(buf);
      rc = deflate(&z, last ? Z_FINISH : Z_NO_FLUSH);
      if (rc == Z_STREAM_ERROR) {
        return absl::InternalError(absl::StrCat("compress ", what, ": deflate failed"));
      }
      out.append(buf, sizeof(buf) - z.avail_out);
    } while (z.avail_out == 0 || (last && rc != Z_STREAM_END));
    return absl::OkStatus();
  });
}

absl::Status Zstd(int fd, cache::ContentWriter& writer, const std::string& what) {
  std::unique_ptr<ZSTD_CCtx, size_t (*)(ZSTD_CCtx*)> cctx(ZSTD_createCCtx(), ZSTD_freeCCtx);
  ZSTD_CCtx_setParameter(cctx.get(), ZSTD_c_compressionLevel, 3);
  return Pump(fd, writer, what, [&](char* data, size_t len, bool last, std::string& out) {
    ZSTD_inBuffer in{data, len, 0};
    char buf[1 << 16];
    size_t remaining = 0;
    do {
      ZSTD_outBuffer o{buf, sizeof(buf), 0};
      remaining = ZSTD_compressStream2(cctx.get(), &o, &in, last ? ZSTD_e_end : ZSTD_e_continue);
      if (ZSTD_isError(remaining)) {
        return absl::InternalError(
            absl::StrCat("compress ", what, ": ", ZSTD_getErrorName(remaining)));
      }
      out.append(buf, o.pos);
    } while (in.pos < in.size || (last && remaining != 0));
    return absl::OkStatus();
  });
}

}  // namespace

absl::StatusOr<oci::Descriptor> EnsureCompressed(cache::ContentStore& store,
                                                 const oci::Descriptor& layer,
                                                 std::string_view compression, bool docker_types,
                                                 cache::Lease& lease) {
  absl::StatusOr<snapshotter::Compression> current =
      snapshotter::CompressionForMediaType(layer.media_type);
  if (!current.ok() || *current != snapshotter::Compression::kNone) return layer;
  if (compression != "gzip" && compression != "zstd") {
    return absl::InvalidArgumentError(
        absl::StrCat("compression '", AsAbsl(compression), "': expected gzip or zstd"));
  }
  snapshotter::Compression wanted =
      compression == "zstd" ? snapshotter::Compression::kZstd : snapshotter::Compression::kGzip;
  std::string label = absl::StrCat(AsAbsl(kLabelCompressedPrefix), AsAbsl(compression));
  oci::Descriptor out = layer;
  if (docker_types) {
    KILN_ASSIGN_OR_RETURN(std::string_view mt, snapshotter::DockerMediaTypeFor(wanted));
    out.media_type = std::string(mt);
  } else {
    out.media_type = std::string(snapshotter::MediaTypeFor(wanted));
  }
  KILN_ASSIGN_OR_RETURN(cache::BlobInfo info, store.Info(layer.digest));
  if (auto it = info.labels.find(label); it != info.labels.end()) {
    absl::StatusOr<base::Digest> d = base::Digest::Parse(it->second);
    // Held first, then checked: a prune that collected it meanwhile makes this a miss.
    if (d.ok() && lease.HoldBlob(*d).ok()) {
      absl::StatusOr<cache::BlobInfo> compressed = store.Info(*d);
      if (compressed.ok()) {
        out.digest = *d;
        out.size = compressed->size;
        return out;
      }
    }
  }
  std::string what = absl::StrCat("layer ", layer.digest.str());
  KILN_ASSIGN_OR_RETURN(int raw_fd, store.OpenRead(layer.digest));
  base::UniqueFd fd(raw_fd);
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<cache::ContentWriter> writer, store.Writer(what));
  KILN_RETURN_IF_ERROR(compression == "zstd" ? Zstd(fd.get(), *writer, what)
                                             : Gzip(fd.get(), *writer, what));
  KILN_ASSIGN_OR_RETURN(cache::BlobInfo committed, writer->Commit());
  KILN_RETURN_IF_ERROR(lease.HoldBlob(committed.digest));
  if (!store.Has(committed.digest)) {  // collected between its commit and the hold
    return absl::AbortedError(absl::StrCat("compress ", what, ": collected by a concurrent prune"));
  }
  KILN_RETURN_IF_ERROR(store.SetLabels(layer.digest, {{label, committed.digest.str()}}));
  out.digest = committed.digest;
  out.size = committed.size;
  return out;
}

}  // namespace kiln::engine::registry
