// Compression: every format is detected on apply; gzip output is standard (gzip -t, tar -tz,
// libarchive), including multi-member streams; zstd is multi-threaded yet deterministic.
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <unistd.h>

#include <set>
#include <string>

#include "base/temp_dir.h"
#include "gtest/gtest.h"
#include "snapshotter/diff/applier.h"
#include "snapshotter/diff/differ.h"
#include "snapshotter/diff/layer_decoder.h"
#include "tests/layers/test_util.h"

namespace kiln::snapshotter {
namespace {

using testing::StringSink;

class CompressionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto t = base::TempDir::Create("kiln-layers-comp-");
    ASSERT_TRUE(t.ok()) << t.status();
    tmp_ = std::move(*t);
    src_ = tmp_.path() + "/src";
    testing::MakeDir(src_);
    testing::MakeDir(src_ + "/dir");
    for (int i = 0; i < 8; ++i) {
      testing::WriteFile(src_ + "/dir/f" + std::to_string(i),
                         testing::SomeBytes(static_cast<size_t>(300000 * i + 5), i));
    }
    testing::WriteFile(src_ + "/big", testing::SomeBytes(5 << 20, 42));
  }

  std::string Layer(Compression c, size_t gzip_block = size_t{1} << 20, int threads = 0) {
    StringSink sink;
    DiffOptions o;
    o.encoder.compression = c;
    o.encoder.gzip_block_size = gzip_block;
    o.encoder.threads = threads;
    auto d = DiffTrees("", src_, o, &sink);
    EXPECT_TRUE(d.ok()) << d.status();
    return sink.data();
  }

  std::string SaveBlob(const std::string& name, const std::string& blob) {
    std::string p = tmp_.path() + "/" + name;
    testing::WriteFile(p, blob);
    return p;
  }

  // Entry names as libarchive reads them.
  std::set<std::string> LibarchiveNames(const std::string& blob, size_t* data_bytes) {
    std::set<std::string> names;
    struct archive* a = archive_read_new();
    archive_read_support_filter_all(a);
    archive_read_support_format_all(a);
    EXPECT_EQ(archive_read_open_memory(a, blob.data(), blob.size()), ARCHIVE_OK);
    struct archive_entry* e = nullptr;
    int rc;
    char buf[65536];
    while ((rc = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
      names.insert(archive_entry_pathname(e));
      la_ssize_t n;
      while ((n = archive_read_data(a, buf, sizeof(buf))) > 0)
        *data_bytes += static_cast<size_t>(n);
      EXPECT_EQ(n, 0) << archive_error_string(a);
    }
    EXPECT_EQ(rc, ARCHIVE_EOF) << archive_error_string(a);
    archive_read_free(a);
    return names;
  }

  base::TempDir tmp_;
  std::string src_;
};

TEST_F(CompressionTest, ApplyDetectsEachCompression) {
  for (Compression c : {Compression::kNone, Compression::kGzip, Compression::kZstd}) {
    std::string blob = Layer(c);
    StringSource src(blob);
    auto dec = LayerDecoder::Open(&src);
    ASSERT_TRUE(dec.ok()) << dec.status();
    EXPECT_EQ((*dec)->compression(), c);
    std::string dst = tmp_.path() + "/dst" + std::to_string(static_cast<int>(c));
    testing::MakeDir(dst);
    StringSource src2(blob);
    auto r = ApplyLayer(&src2, dst);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->compression, c);
    EXPECT_EQ(testing::DiffTreesText(testing::Snapshot(src_), testing::Snapshot(dst)), "");
  }
}

TEST_F(CompressionTest, GzipIsStandardMultiMemberGzip) {
  // 64 KiB blocks: ~100 gzip members.
  std::string blob = Layer(Compression::kGzip, 64 * 1024);
  std::string path = SaveBlob("layer.tar.gz", blob);
  EXPECT_EQ(testing::Shell("gzip -t '" + path + "'"), 0);
  EXPECT_EQ(testing::Shell("tar -tzf '" + path + "' > /dev/null"), 0);
  EXPECT_EQ(testing::Shell("tar -tzvf '" + path + "' | grep -q 'dir/f7'"), 0);
  size_t bytes = 0;
  std::set<std::string> names = LibarchiveNames(blob, &bytes);
  EXPECT_EQ(names.count("dir/"), 1u);
  EXPECT_EQ(names.count("dir/f7"), 1u);
  EXPECT_EQ(names.count("big"), 1u);
  EXPECT_EQ(bytes, size_t{5 << 20} + 28 * 300000 + 8 * 5);
  // Members: count gzip headers that start a member (what gzip -l would see as one stream).
  std::string plain = Layer(Compression::kNone);
  std::string unz = tmp_.path() + "/unz.tar";
  ASSERT_EQ(testing::Shell("gzip -dc '" + path + "' > '" + unz + "'"), 0);
  EXPECT_EQ(testing::ReadFile(unz), plain);
}

TEST_F(CompressionTest, ZstdAndGzipAreDeterministicAcrossThreadCounts) {
  EXPECT_EQ(Layer(Compression::kZstd, 1 << 20, 1), Layer(Compression::kZstd, 1 << 20, 1));
  // Same blob digest whatever the machine's CPU count (the default thread count).
  EXPECT_EQ(Layer(Compression::kZstd, 1 << 20, 1), Layer(Compression::kZstd, 1 << 20, 2));
  EXPECT_EQ(Layer(Compression::kZstd, 1 << 20, 2), Layer(Compression::kZstd, 1 << 20, 4));
  EXPECT_EQ(Layer(Compression::kGzip, 1 << 20, 1), Layer(Compression::kGzip, 1 << 20, 2));
  std::string z = Layer(Compression::kZstd);
  size_t bytes = 0;
  EXPECT_EQ(LibarchiveNames(z, &bytes).count("big"), 1u);
}

TEST_F(CompressionTest, FdSinkWritesTheSameBytes) {
  std::string path = tmp_.path() + "/fd-layer";
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  ASSERT_GE(fd, 0);
  FdSink sink(fd);
  DiffOptions o;
  o.encoder.compression = Compression::kZstd;
  auto d = DiffTrees("", src_, o, &sink);
  ::close(fd);
  ASSERT_TRUE(d.ok()) << d.status();
  std::string blob = testing::ReadFile(path);
  EXPECT_EQ(d->digest, base::Digest::Of(blob));
  EXPECT_EQ(d->size, static_cast<int64_t>(blob.size()));
  int rfd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(rfd, 0);
  FdSource src(rfd);
  std::string dst = tmp_.path() + "/dst";
  testing::MakeDir(dst);
  ApplyOptions want;
  want.expected_diff_id = d->diff_id;
  auto r = ApplyLayer(&src, dst, want);
  ::close(rfd);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->diff_id, d->diff_id);
  // A layer whose content does not hash to the expected diffID is DataLoss.
  ApplyOptions wrong;
  wrong.expected_diff_id = base::Digest::Of("something else");
  StringSource again(blob);
  std::string dst2 = tmp_.path() + "/dst2";
  testing::MakeDir(dst2);
  auto r2 = ApplyLayer(&again, dst2, wrong);
  ASSERT_FALSE(r2.ok());
  EXPECT_EQ(r2.status().code(), absl::StatusCode::kDataLoss) << r2.status();
}

}  // namespace
}  // namespace kiln::snapshotter
