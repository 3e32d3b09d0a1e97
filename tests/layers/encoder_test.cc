// LayerEncoder on its own: the zstd encoder (a feeder thread between the caller and zstd's
// workers) gives the same bytes however the input is cut into Write calls and whatever the
// thread count, both digests cover exactly what went in and what came out, an uncompressed
// layer's digest is its diffID, sink errors reach the caller, and an unfinished encoder can be
// dropped without hanging or leaking.
#include <zstd.h>

#include <algorithm>
#include <memory>
#include <string>

#include "base/digest.h"
#include "gtest/gtest.h"
#include "snapshotter/diff/layer_encoder.h"
#include "tests/layers/test_util.h"

namespace kiln::snapshotter {
namespace {

using testing::StringSink;

struct Encoded {
  std::string blob;
  LayerDescriptor desc;
};

// Feeds `in` in `piece`-byte Write calls.
Encoded Encode(Compression c, const std::string& in, size_t piece, int threads) {
  StringSink sink;
  EncoderOptions o;
  o.compression = c;
  o.threads = threads;
  auto enc = LayerEncoder::Create(o, &sink);
  EXPECT_TRUE(enc.ok()) << enc.status();
  if (!enc.ok()) return {};
  for (size_t pos = 0; pos < in.size(); pos += piece) {
    absl::Status s = (*enc)->Write(in.data() + pos, std::min(piece, in.size() - pos));
    EXPECT_TRUE(s.ok()) << s;
  }
  auto d = (*enc)->Finish();
  EXPECT_TRUE(d.ok()) << d.status();
  return Encoded{sink.data(), d.ok() ? *d : LayerDescriptor{}};
}

std::string Unzstd(const std::string& blob, size_t expected) {
  std::string out(expected + 1, '\0');
  size_t n = ZSTD_decompress(out.data(), out.size(), blob.data(), blob.size());
  if (ZSTD_isError(n)) return std::string("zstd error: ") + ZSTD_getErrorName(n);
  out.resize(n);
  return out;
}

// More than one zstd job (8 MiB at level 3) and not a multiple of any block size.
std::string Input() { return testing::SomeBytes((size_t{19} << 20) + 12345, 7); }

TEST(EncoderTest, ZstdBytesDoNotDependOnWriteSizesOrThreads) {
  std::string in = Input();
  Encoded a = Encode(Compression::kZstd, in, in.size(), 1);
  Encoded b = Encode(Compression::kZstd, in, 4097, 2);
  Encoded c = Encode(Compression::kZstd, in, (size_t{3} << 20) + 1, 3);
  ASSERT_FALSE(a.blob.empty());
  EXPECT_LT(a.blob.size(), in.size() / 2);
  EXPECT_TRUE(a.blob == b.blob) << "4097-byte writes, 2 threads gave other bytes";
  EXPECT_TRUE(a.blob == c.blob) << "3 MiB writes, 3 threads gave other bytes";
  EXPECT_EQ(a.desc.diff_id, base::Digest::Of(in));
  EXPECT_EQ(a.desc.digest, base::Digest::Of(a.blob));
  EXPECT_EQ(a.desc.size, static_cast<int64_t>(a.blob.size()));
  EXPECT_EQ(a.desc.uncompressed_size, static_cast<int64_t>(in.size()));
  EXPECT_EQ(a.desc.media_type, kMediaTypeLayerZstd);
  EXPECT_EQ(b.desc.digest, a.desc.digest);
  EXPECT_EQ(c.desc.diff_id, a.desc.diff_id);
  EXPECT_TRUE(Unzstd(a.blob, in.size()) == in) << "the blob does not decompress to the input";
}

TEST(EncoderTest, EmptyZstdLayerIsAValidFrame) {
  Encoded e = Encode(Compression::kZstd, "", 1, 2);
  EXPECT_FALSE(e.blob.empty());
  EXPECT_EQ(Unzstd(e.blob, 0), "");
  EXPECT_EQ(e.desc.diff_id, base::Digest::Of(""));
  EXPECT_EQ(e.desc.digest, base::Digest::Of(e.blob));
}

TEST(EncoderTest, UncompressedLayerDigestIsItsDiffId) {
  std::string in = Input();
  Encoded e = Encode(Compression::kNone, in, 100000, 2);
  EXPECT_TRUE(e.blob == in);
  EXPECT_EQ(e.desc.diff_id, base::Digest::Of(in));
  EXPECT_EQ(e.desc.digest, e.desc.diff_id);
  EXPECT_EQ(e.desc.size, static_cast<int64_t>(in.size()));
  EXPECT_EQ(e.desc.media_type, kMediaTypeLayerTar);
}

// Accepts `limit` bytes, then fails every write.
class FailingSink : public ByteSink {
 public:
  explicit FailingSink(size_t limit) : limit_(limit) {}
  absl::Status Write(const void*, size_t len) override {
    if (written_ + len > limit_) return absl::ResourceExhaustedError("write blob: disk full");
    written_ += len;
    return absl::OkStatus();
  }
  using ByteSink::Write;

 private:
  size_t limit_;
  size_t written_ = 0;
};

TEST(EncoderTest, SinkErrorsReachTheCaller) {
  // Far more input than the encoder buffers: the caller must see the error while writing (or
  // at the latest from Finish), and never block.
  std::string in = testing::SomeBytes(size_t{64} << 20, 3);
  for (Compression c : {Compression::kZstd, Compression::kNone, Compression::kGzip}) {
    FailingSink sink(100000);
    EncoderOptions o;
    o.compression = c;
    o.threads = 2;
    auto enc = LayerEncoder::Create(o, &sink);
    ASSERT_TRUE(enc.ok()) << enc.status();
    absl::Status s;
    for (size_t pos = 0; pos < in.size() && s.ok(); pos += 256 << 10) {
      s = (*enc)->Write(in.data() + pos, std::min<size_t>(256 << 10, in.size() - pos));
    }
    if (s.ok()) s = (*enc)->Finish().status();
    EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted) << MediaTypeFor(c) << ": " << s;
    EXPECT_NE(s.message().find("disk full"), std::string::npos) << s;
  }
}

TEST(EncoderTest, UnfinishedZstdEncoderCanBeDropped) {
  std::string in = Input();
  StringSink sink;
  EncoderOptions o;
  o.compression = Compression::kZstd;
  o.threads = 2;
  {
    auto enc = LayerEncoder::Create(o, &sink);
    ASSERT_TRUE(enc.ok()) << enc.status();
    ASSERT_TRUE((*enc)->Write(in).ok());
  }  // destroyed with queued, unfinished work: must return (and leak nothing under ASan)
  auto enc = LayerEncoder::Create(o, &sink);
  ASSERT_TRUE(enc.ok()) << enc.status();
  ASSERT_TRUE((*enc)->Write("abc").ok());
  ASSERT_TRUE((*enc)->Finish().ok());
  EXPECT_EQ((*enc)->Write("more").code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ((*enc)->Finish().status().code(), absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace kiln::snapshotter
