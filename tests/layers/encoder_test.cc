// LayerEncoder on its own: the zstd encoder (independent 8 MiB frames, compressed in parallel)
// gives the same bytes however the input is cut into Write calls or lent buffers and whatever
// the thread count, its frames are cut at fixed offsets and the zstd CLI reads them, both
// digests cover exactly what went in and what came out, an uncompressed layer's digest is its
// diffID, sink errors reach the caller, and an unfinished encoder can be dropped without
// hanging or leaking. The tar writer gives the same bytes whether it fills its own buffer or
// the encoder's lent blocks.
#include <fcntl.h>
#include <unistd.h>
#include <zstd.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "base/digest.h"
#include "base/temp_dir.h"
#include "gtest/gtest.h"
#include "snapshotter/diff/layer_encoder.h"
#include "snapshotter/diff/tar_writer.h"
#include "tests/layers/test_util.h"

namespace kiln::snapshotter {
namespace {

using internal::TarEntry;
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

// More than one zstd frame (8 MiB) and not a multiple of any block size.
EncoderOptions ZstdOnTwoThreads() {
  EncoderOptions o;
  o.compression = Compression::kZstd;
  o.threads = 2;
  return o;
}

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

// Content sizes of the zstd frames in `blob`, in order (empty if it is not a frame sequence).
std::vector<unsigned long long> FrameSizes(const std::string& blob) {
  std::vector<unsigned long long> sizes;
  for (size_t pos = 0; pos < blob.size();) {
    size_t n = ZSTD_findFrameCompressedSize(blob.data() + pos, blob.size() - pos);
    if (ZSTD_isError(n)) return {};
    sizes.push_back(ZSTD_getFrameContentSize(blob.data() + pos, blob.size() - pos));
    pos += n;
  }
  return sizes;
}

// The frames are cut at fixed offsets of the tar stream (8 MiB each), also when the caller
// mixes Write with lent buffers that cross a frame's end; zstd's CLI reads the stream.
TEST(EncoderTest, ZstdFramesAreCutAtFixedOffsetsWhateverTheLending) {
  std::string in = Input();
  Encoded plain = Encode(Compression::kZstd, in, 4097, 2);
  StringSink sink;
  EncoderOptions o = ZstdOnTwoThreads();
  auto enc = LayerEncoder::Create(o, &sink);
  ASSERT_TRUE(enc.ok()) << enc.status();
  size_t pos = 0;
  for (int round = 0; pos < in.size(); ++round) {
    size_t n = std::min<size_t>(round % 3 == 0 ? 1000 : 333333, in.size() - pos);
    if (round % 2 == 0) {
      ASSERT_TRUE((*enc)->Write(in.data() + pos, n).ok());
    } else {
      auto lent = (*enc)->Lend();
      ASSERT_TRUE(lent.ok()) << lent.status();
      ASSERT_GE(lent->size, size_t{512});
      n = std::min(n, lent->size);
      std::memcpy(lent->data, in.data() + pos, n);
      ASSERT_TRUE((*enc)->WriteLent(lent->data, n).ok());
    }
    pos += n;
  }
  auto d = (*enc)->Finish();
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_TRUE(sink.data() == plain.blob) << "lent buffers gave other bytes";
  EXPECT_EQ(d->digest, plain.desc.digest);
  EXPECT_EQ(d->diff_id, base::Digest::Of(in));
  std::vector<unsigned long long> frames = FrameSizes(plain.blob);
  std::vector<unsigned long long> want = {8 << 20, 8 << 20, in.size() - (16 << 20)};
  EXPECT_EQ(frames, want);

  auto tmp = base::TempDir::Create("kiln-encoder-");
  ASSERT_TRUE(tmp.ok()) << tmp.status();
  testing::WriteFile(tmp->path() + "/blob.zst", plain.blob);
  ASSERT_EQ(
      testing::Shell("zstd -q -d -c '" + tmp->path() + "/blob.zst' > '" + tmp->path() + "/blob'"),
      0);
  EXPECT_TRUE(testing::ReadFile(tmp->path() + "/blob") == in) << "zstd -d gave other bytes";
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
  EncoderOptions o = ZstdOnTwoThreads();
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

// Writes a fixed archive: headers, data through WriteData (small and >= 256 KiB) and through
// ReadDataFrom (a file of a few MiB), and returns any error.
absl::Status WriteArchive(ByteSink* sink, const std::string& file, size_t file_size) {
  internal::TarWriter tar(sink);
  std::string small = testing::SomeBytes(1000, 1), large = testing::SomeBytes(700000, 2);
  for (int i = 0; i < 300; ++i) {
    TarEntry e;
    e.path = "dir/f" + std::to_string(i);
    e.mode = 0644;
    e.mtime = 1700000000 + i;
    const std::string& data = i % 100 == 7 ? large : small;
    e.size = static_cast<int64_t>(data.size());
    if (absl::Status s = tar.WriteHeader(e); !s.ok()) return s;
    if (absl::Status s = tar.WriteData(data.data(), data.size()); !s.ok()) return s;
  }
  TarEntry f;
  f.path = "from-fd";
  f.mode = 0600;
  f.size = static_cast<int64_t>(file_size);
  if (absl::Status s = tar.WriteHeader(f); !s.ok()) return s;
  int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return absl::NotFoundError("open " + file);
  for (size_t got = 0; got < file_size;) {
    absl::StatusOr<size_t> n = tar.ReadDataFrom(fd);
    if (!n.ok() || *n == 0) {
      ::close(fd);
      return n.ok() ? absl::DataLossError("short file") : n.status();
    }
    got += *n;
  }
  ::close(fd);
  return tar.Close();
}

TEST(EncoderTest, TarWriterFillsLentBlocksWithTheSameBytes) {
  auto tmp = base::TempDir::Create("kiln-encoder-");
  ASSERT_TRUE(tmp.ok()) << tmp.status();
  std::string file = tmp->path() + "/data";
  std::string content = testing::SomeBytes((size_t{3} << 20) + 777, 9);
  testing::WriteFile(file, content);
  StringSink plain;  // does not lend: the writer's own 256 KiB buffer
  ASSERT_TRUE(WriteArchive(&plain, file, content.size()).ok());
  for (Compression c : {Compression::kNone, Compression::kZstd}) {
    StringSink sink;
    EncoderOptions o;
    o.compression = c;
    o.threads = 2;
    auto enc = LayerEncoder::Create(o, &sink);
    ASSERT_TRUE(enc.ok()) << enc.status();
    ASSERT_TRUE(WriteArchive(enc->get(), file, content.size()).ok());
    auto d = (*enc)->Finish();
    ASSERT_TRUE(d.ok()) << d.status();
    EXPECT_EQ(d->diff_id, base::Digest::Of(plain.data())) << MediaTypeFor(c);
    EXPECT_EQ(d->uncompressed_size, static_cast<int64_t>(plain.data().size()));
    std::string tar =
        c == Compression::kNone ? sink.data() : Unzstd(sink.data(), plain.data().size());
    EXPECT_TRUE(tar == plain.data()) << MediaTypeFor(c) << ": other bytes through lent blocks";
  }
}

TEST(EncoderTest, LendingFollowsItsContract) {
  StringSink sink;
  EncoderOptions o;
  o.compression = Compression::kNone;
  auto enc = LayerEncoder::Create(o, &sink);
  ASSERT_TRUE(enc.ok()) << enc.status();
  LayerEncoder& e = **enc;
  ASSERT_TRUE(e.Write("head").ok());
  auto lent = e.Lend();
  ASSERT_TRUE(lent.ok()) << lent.status();
  ASSERT_NE(lent->data, nullptr);
  ASSERT_GE(lent->size, size_t{512});
  EXPECT_EQ(e.Lend().status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(e.Write("x").code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(e.Finish().status().code(), absl::StatusCode::kFailedPrecondition);
  char other[4];
  EXPECT_EQ(e.WriteLent(other, 1).code(), absl::StatusCode::kFailedPrecondition);
  std::memcpy(lent->data, "body", 4);
  ASSERT_TRUE(e.WriteLent(lent->data, 4).ok());
  auto empty = e.Lend();  // returned unused: nothing is written
  ASSERT_TRUE(empty.ok());
  ASSERT_TRUE(e.WriteLent(empty->data, 0).ok());
  ASSERT_TRUE(e.Write("tail").ok());
  auto d = e.Finish();
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(sink.data(), "headbodytail");
  EXPECT_EQ(d->digest, base::Digest::Of("headbodytail"));
}

}  // namespace
}  // namespace kiln::snapshotter
