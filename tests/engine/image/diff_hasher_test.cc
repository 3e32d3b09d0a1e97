// DiffHasher: diffIDs of gzip / zstd / plain layer bytes fed in arbitrary chunk sizes, with
// the compressed streams made by the real gzip and zstd tools.
#include "engine/image/diff_hasher.h"

#include <random>

#include "base/temp_dir.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/engine/image/test_util.h"

namespace kiln::engine::image::internal {
namespace {

using test_util::ReadFile;
using test_util::RunTool;
using test_util::WriteFile;
using ::testing::HasSubstr;

class DiffHasherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto tmp = base::TempDir::Create("kiln-diffhash-test-");
    ASSERT_TRUE(tmp.ok());
    tmp_ = std::move(*tmp);
    // 3 MiB: half incompressible, half repetitive, so output chunks outrun input chunks.
    std::mt19937 rng(42);
    data_.resize(3 << 20);
    for (size_t i = 0; i < data_.size() / 2; ++i) data_[i] = static_cast<char>(rng());
    for (size_t i = data_.size() / 2; i < data_.size(); ++i) data_[i] = "kiln"[i % 4];
    WriteFile(tmp_.path() + "/data", data_);
  }

  std::string Compress(const std::vector<std::string>& tool_args, const std::string& suffix) {
    std::vector<std::string> argv = tool_args;
    argv.push_back(tmp_.path() + "/data");
    auto r = RunTool(argv);
    EXPECT_EQ(r.exit_code, 0) << r.output;
    return ReadFile(tmp_.path() + "/data" + suffix);
  }

  static absl::StatusOr<base::Digest> Hash(const std::string& bytes, size_t chunk,
                                           Compression* seen = nullptr) {
    DiffHasher h;
    for (size_t off = 0; off < bytes.size(); off += chunk) {
      absl::Status st = h.Update(bytes.data() + off, std::min(chunk, bytes.size() - off));
      if (!st.ok()) return st;
    }
    if (seen != nullptr) *seen = h.compression();
    return h.Finish();
  }

  base::TempDir tmp_;
  std::string data_;
};

TEST_F(DiffHasherTest, PlainGzipAndZstdInAnyChunkSize) {
  ASSERT_FALSE(test_util::FindTool("zstd").empty()) << "zstd CLI missing: run tools/setup.sh";
  std::string gz = Compress({"gzip", "-n", "-k", "-f"}, ".gz");
  std::string zst = Compress({"zstd", "-q", "-f", "-3"}, ".zst");
  base::Digest want = base::Digest::Of(data_);
  // Chunk 3 is shorter than the zstd magic, so detection must buffer across Updates.
  for (size_t chunk : {size_t{1} << 20, size_t{65536}, size_t{4099}, size_t{3}}) {
    Compression c;
    auto plain = Hash(data_, chunk, &c);
    ASSERT_TRUE(plain.ok());
    EXPECT_EQ(*plain, want);
    EXPECT_EQ(c, Compression::kNone);
    auto g = Hash(gz, chunk, &c);
    ASSERT_TRUE(g.ok()) << g.status() << " chunk " << chunk;
    EXPECT_EQ(*g, want) << "gzip, chunk " << chunk;
    EXPECT_EQ(c, Compression::kGzip);
    auto z = Hash(zst, chunk, &c);
    ASSERT_TRUE(z.ok()) << z.status() << " chunk " << chunk;
    EXPECT_EQ(*z, want) << "zstd, chunk " << chunk;
    EXPECT_EQ(c, Compression::kZstd);
  }
}

TEST_F(DiffHasherTest, MultiMemberGzip) {
  std::string gz = Compress({"gzip", "-n", "-k", "-f"}, ".gz");
  auto h = Hash(gz + gz, 65536);
  ASSERT_TRUE(h.ok()) << h.status();
  EXPECT_EQ(*h, base::Digest::Of(data_ + data_));
}

TEST_F(DiffHasherTest, TruncatedOrCorruptStreamsFail) {
  std::string gz = Compress({"gzip", "-n", "-k", "-f"}, ".gz");
  auto cut = Hash(gz.substr(0, gz.size() / 2), 65536);
  ASSERT_FALSE(cut.ok());
  EXPECT_THAT(std::string(cut.status().message()), HasSubstr("truncated gzip"));
  std::string bad = gz;
  bad[bad.size() / 2] ^= 0x55;
  bad[bad.size() / 2 + 1] ^= 0x55;
  auto corrupt = Hash(bad, 65536);
  ASSERT_FALSE(corrupt.ok()) << "a corrupted deflate stream or CRC must not pass";
  ASSERT_FALSE(test_util::FindTool("zstd").empty()) << "zstd CLI missing: run tools/setup.sh";
  std::string zst = Compress({"zstd", "-q", "-f", "-3"}, ".zst");
  auto zcut = Hash(zst.substr(0, zst.size() - 100), 65536);
  ASSERT_FALSE(zcut.ok());
  EXPECT_THAT(std::string(zcut.status().message()), HasSubstr("truncated zstd"));
}

TEST_F(DiffHasherTest, TinyInputsShorterThanTheMagic) {
  auto empty = Hash("", 1);
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(*empty, base::Digest::Of(""));
  auto two = Hash("ab", 1);
  ASSERT_TRUE(two.ok());
  EXPECT_EQ(*two, base::Digest::Of("ab"));
}

}  // namespace
}  // namespace kiln::engine::image::internal
