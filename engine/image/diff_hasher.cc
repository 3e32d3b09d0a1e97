#include "engine/image/diff_hasher.h"

#include <zlib.h>
#include <zstd.h>

#include <cstring>

#include "absl/strings/str_cat.h"
#include "base/status.h"

namespace kiln::engine::image::internal {

struct DiffHasher::Codec {
  z_stream z = {};
  bool z_init = false;
  bool z_ended = false;  // the current gzip member ended; more input starts a new member
  ZSTD_DStream* zs = nullptr;
  size_t zstd_pending = 0;  // last ZSTD_decompressStream hint; 0 when a frame just ended
  std::string out = std::string(1 << 17, '\0');
  ~Codec() {
    if (z_init) inflateEnd(&z);
    if (zs != nullptr) ZSTD_freeDStream(zs);
  }
};

DiffHasher::DiffHasher() = default;
DiffHasher::~DiffHasher() = default;

absl::Status DiffHasher::Start() {
  compression_ = snapshotter::SniffCompression(head_);
  codec_ = std::make_unique<Codec>();
  if (compression_ == Compression::kGzip) {
    if (inflateInit2(&codec_->z, 16 + MAX_WBITS) != Z_OK) {
      return absl::ResourceExhaustedError("inflateInit2 failed");
    }
    codec_->z_init = true;
  } else if (compression_ == Compression::kZstd) {
    codec_->zs = ZSTD_createDStream();
    if (codec_->zs == nullptr) return absl::ResourceExhaustedError("ZSTD_createDStream failed");
  }
  std::string head = std::move(head_);
  head_.clear();
  return Decode(head.data(), head.size());
}

absl::Status DiffHasher::Update(const char* data, size_t len) {
  if (!compression_.has_value()) {
    head_.append(data, len);
    if (head_.size() < snapshotter::kSniffBytes) return absl::OkStatus();
    return Start();
  }
  return Decode(data, len);
}

absl::Status DiffHasher::Decode(const char* data, size_t len) {
  if (compression_ == Compression::kNone) {
    sha_.Update(data, len);
    return absl::OkStatus();
  }
  Codec& c = *codec_;
  if (compression_ == Compression::kGzip) {
    c.z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data));
    c.z.avail_in = static_cast<uInt>(len);
    while (true) {
      if (c.z_ended) {
        if (c.z.avail_in == 0) break;
        inflateReset(&c.z);  // another gzip member follows
        c.z_ended = false;
      }
      c.z.next_out = reinterpret_cast<Bytef*>(c.out.data());
      c.z.avail_out = static_cast<uInt>(c.out.size());
      int r = inflate(&c.z, Z_NO_FLUSH);
      if (r != Z_OK && r != Z_STREAM_END && r != Z_BUF_ERROR) {
        return absl::InvalidArgumentError(
            absl::StrCat("gunzip layer: ", c.z.msg != nullptr ? c.z.msg : "corrupt gzip data"));
      }
      sha_.Update(c.out.data(), c.out.size() - c.z.avail_out);
      if (r == Z_STREAM_END) {
        c.z_ended = true;
        continue;
      }
      // Done with this input once inflate neither has input left nor filled the output.
      if (c.z.avail_out != 0 || r == Z_BUF_ERROR) break;
    }
    return absl::OkStatus();
  }
  ZSTD_inBuffer in = {data, len, 0};
  while (true) {
    ZSTD_outBuffer out = {c.out.data(), c.out.size(), 0};
    size_t r = ZSTD_decompressStream(c.zs, &out, &in);
    if (ZSTD_isError(r)) {
      return absl::InvalidArgumentError(absl::StrCat("unzstd layer: ", ZSTD_getErrorName(r)));
    }
    sha_.Update(c.out.data(), out.pos);
    c.zstd_pending = r;
    if (in.pos == in.size && out.pos < out.size) break;
  }
  return absl::OkStatus();
}

absl::StatusOr<base::Digest> DiffHasher::Finish() {
  if (!compression_.has_value()) KILN_RETURN_IF_ERROR(Start());
  if (compression_ == Compression::kGzip && !codec_->z_ended) {
    return absl::InvalidArgumentError("gunzip layer: truncated gzip stream");
  }
  if (compression_ == Compression::kZstd && codec_->zstd_pending != 0) {
    return absl::InvalidArgumentError("unzstd layer: truncated zstd stream");
  }
  return sha_.Finish();
}

}  // namespace kiln::engine::image::internal
