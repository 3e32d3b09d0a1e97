#include "snapshotter/diff/layer_decoder.h"

#include <zlib.h>
#include <zstd.h>

#include <algorithm>
#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"
#include "base/status.h"

namespace kiln::snapshotter {
namespace {

constexpr size_t kInBuf = 256 * 1024;

// Buffered input shared by the decoders: starts with the peeked magic bytes.
class Input {
 public:
  Input(ByteSource* src, std::string head) : src_(src), buf_(std::move(head)) {}

  // Ensures some unread bytes are available; returns false at end of stream.
  absl::StatusOr<bool> Fill() {
    if (pos_ < buf_.size()) return true;
    if (eof_) return false;
    buf_.resize(kInBuf);
    pos_ = 0;
    KILN_ASSIGN_OR_RETURN(size_t n, src_->Read(buf_.data(), buf_.size()));
    buf_.resize(n);
    if (n == 0) eof_ = true;
    return n > 0;
  }
  const char* data() const { return buf_.data() + pos_; }
  size_t size() const { return buf_.size() - pos_; }
  void Consume(size_t n) { pos_ += n; }

 private:
  ByteSource* src_;
  std::string buf_;
  size_t pos_ = 0;
  bool eof_ = false;
};

class PlainDecoder : public LayerDecoder {
 public:
  PlainDecoder(ByteSource* src, std::string head) : in_(src, std::move(head)) {}
  Compression compression() const override { return Compression::kNone; }
  absl::StatusOr<size_t> Read(void* buf, size_t len) override {
    KILN_ASSIGN_OR_RETURN(bool more, in_.Fill());
    if (!more) return size_t{0};
    size_t n = std::min(len, in_.size());
    std::memcpy(buf, in_.data(), n);
    in_.Consume(n);
    return n;
  }

 private:
  Input in_;
};

class GzipDecoder : public LayerDecoder {
 public:
  GzipDecoder(ByteSource* src, std::string head) : in_(src, std::move(head)) {}
  ~GzipDecoder() override {
    if (init_) inflateEnd(&zs_);
  }
  absl::Status Init() {
    if (inflateInit2(&zs_, 15 + 16) != Z_OK) return absl::InternalError("gzip: inflateInit2");
    init_ = true;
    return absl::OkStatus();
  }
  Compression compression() const override { return Compression::kGzip; }

  absl::StatusOr<size_t> Read(void* buf, size_t len) override {
    while (true) {
      KILN_ASSIGN_OR_RETURN(bool more, in_.Fill());
      if (!more) {
        if (in_member_) return absl::DataLossError("gzip layer stream truncated");
        return size_t{0};
      }
      if (!in_member_) {
        // Between members: trailing zero padding is tolerated, anything else is a member.
        if (in_.data()[0] == '\0') {
          in_.Consume(1);
          continue;
        }
        if (inflateReset(&zs_) != Z_OK) return absl::InternalError("gzip: inflateReset");
        in_member_ = true;
      }
      zs_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in_.data()));
      zs_.avail_in = static_cast<uInt>(std::min<size_t>(in_.size(), 1u << 30));
      zs_.next_out = static_cast<Bytef*>(buf);
      zs_.avail_out = static_cast<uInt>(std::min<size_t>(len, 1u << 30));
      uInt before_in = zs_.avail_in;
      int rc = inflate(&zs_, Z_NO_FLUSH);
      in_.Consume(before_in - zs_.avail_in);
      size_t produced = std::min<size_t>(len, 1u << 30) - zs_.avail_out;
      if (rc == Z_STREAM_END) {
        in_member_ = false;
      } else if (rc != Z_OK && rc != Z_BUF_ERROR) {
        return absl::DataLossError(
            absl::StrCat("corrupt gzip stream: ", zs_.msg != nullptr ? zs_.msg : "inflate error"));
      }
      if (produced > 0) return produced;
    }
  }

 private:
  Input in_;
  z_stream zs_{};
  bool init_ = false;
  bool in_member_ = false;
};

class ZstdDecoder : public LayerDecoder {
 public:
  ZstdDecoder(ByteSource* src, std::string head) : in_(src, std::move(head)) {}
  ~ZstdDecoder() override { ZSTD_freeDStream(ds_); }
  absl::Status Init() {
    ds_ = ZSTD_createDStream();
    if (ds_ == nullptr) return absl::ResourceExhaustedError("zstd: cannot allocate a DStream");
    ZSTD_DCtx_setParameter(ds_, ZSTD_d_windowLogMax, 27);  // cap window memory at 128 MiB
    return absl::OkStatus();
  }
  Compression compression() const override { return Compression::kZstd; }

  absl::StatusOr<size_t> Read(void* buf, size_t len) override {
    while (true) {
      KILN_ASSIGN_OR_RETURN(bool more, in_.Fill());
      if (!more && !frame_open_) return size_t{0};
      ZSTD_inBuffer in{in_.data(), more ? in_.size() : 0, 0};
      ZSTD_outBuffer out{buf, len, 0};
      size_t rc = ZSTD_decompressStream(ds_, &out, &in);
      in_.Consume(in.pos);
      if (ZSTD_isError(rc)) {
        return absl::DataLossError(absl::StrCat("corrupt zstd stream: ", ZSTD_getErrorName(rc)));
      }
      frame_open_ = rc != 0;
      if (out.pos > 0) return out.pos;
      if (!more) return absl::DataLossError("zstd layer stream truncated");
    }
  }

 private:
  Input in_;
  ZSTD_DStream* ds_ = nullptr;
  bool frame_open_ = false;
};

}  // namespace

absl::StatusOr<std::unique_ptr<LayerDecoder>> LayerDecoder::Open(ByteSource* source) {
  std::string head(kSniffBytes, '\0');
  size_t got = 0;
  while (got < head.size()) {
    KILN_ASSIGN_OR_RETURN(size_t n, source->Read(head.data() + got, head.size() - got));
    if (n == 0) break;
    got += n;
  }
  head.resize(got);
  Compression c = SniffCompression(head);
  if (c == Compression::kGzip) {
    auto d = std::make_unique<GzipDecoder>(source, std::move(head));
    KILN_RETURN_IF_ERROR(d->Init());
    return std::unique_ptr<LayerDecoder>(std::move(d));
  }
  if (c == Compression::kZstd) {
    auto d = std::make_unique<ZstdDecoder>(source, std::move(head));
    KILN_RETURN_IF_ERROR(d->Init());
    return std::unique_ptr<LayerDecoder>(std::move(d));
  }
  return std::unique_ptr<LayerDecoder>(new PlainDecoder(source, std::move(head)));
}

}  // namespace kiln::snapshotter
