// The PAX writer and the reader against each other and against hand-made headers: fields
// that overflow ustar (long paths and link targets, big ids and sizes, negative mtimes),
// binary xattr values, ustar prefix names and GNU base-256 numbers.
#include <cstring>
#include <optional>
#include <string>

#include "gtest/gtest.h"
#include "snapshotter/diff/tar_reader.h"
#include "snapshotter/diff/tar_writer.h"
#include "tests/layers/test_util.h"

namespace kiln::snapshotter::internal {
namespace {

TarEntry Roundtrip(const TarEntry& in, const std::string& data = "") {
  testing::StringSink sink;
  TarWriter w(&sink);
  EXPECT_TRUE(w.WriteHeader(in).ok());
  if (!data.empty()) {
    EXPECT_TRUE(w.WriteData(data.data(), data.size()).ok());
  }
  EXPECT_TRUE(w.Close().ok());
  EXPECT_EQ(sink.data().size() % 512, 0u);
  StringSource src(sink.data());
  TarReader r(&src);
  auto e = r.Next();
  EXPECT_TRUE(e.ok()) << e.status();
  if (!e.ok() || !e->has_value()) return TarEntry{};
  std::string got(data.size(), '\0');
  size_t off = 0;
  while (off < got.size()) {
    auto n = r.ReadData(got.data() + off, got.size() - off);
    EXPECT_TRUE(n.ok()) << n.status();
    if (!n.ok() || *n == 0) break;
    off += *n;
  }
  EXPECT_EQ(got, data);
  auto end = r.Next();
  EXPECT_TRUE(end.ok() && !end->has_value());
  return **e;
}

TEST(TarFormatTest, OverflowingFieldsGoThroughPax) {
  TarEntry e;
  e.path = std::string(150, 'd') + "/" + std::string(200, 'f');
  e.type = EntryType::kSymlink;
  e.linkname = "/" + std::string(300, 'l');
  e.mode = 07755;
  e.uid = 3000000000u;
  e.gid = 4000000u;
  e.mtime = -86400;
  e.xattrs = {{"security.capability", std::string("\x01\x00\x00\x02\xff", 5)},
              {"user.k", "v=with=equals\nand newline"}};
  TarEntry got = Roundtrip(e);
  EXPECT_EQ(got.path, e.path);
  EXPECT_EQ(got.type, EntryType::kSymlink);
  EXPECT_EQ(got.linkname, e.linkname);
  EXPECT_EQ(got.mode, 07755u);
  EXPECT_EQ(got.uid, 3000000000u);
  EXPECT_EQ(got.gid, 4000000u);
  EXPECT_EQ(got.mtime, -86400);
  EXPECT_EQ(got.xattrs, e.xattrs);
}

TEST(TarFormatTest, HugeSizeHeaderAndFileData) {
  TarEntry e;
  e.path = "big";
  e.size = int64_t{9} << 30;  // > 8 GiB: beyond the 11-digit octal field
  testing::StringSink sink;
  TarWriter w(&sink);
  ASSERT_TRUE(w.WriteHeader(e).ok());
  std::string chunk(300 * 1024, 'z');  // large writes flush the buffered header
  ASSERT_TRUE(w.WriteData(chunk.data(), chunk.size()).ok());
  StringSource src(sink.data());
  TarReader r(&src);
  auto got = r.Next();
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_TRUE(got->has_value());
  EXPECT_EQ((*got)->size, int64_t{9} << 30);
  std::string back(chunk.size(), '\0');
  auto n = r.ReadData(back.data(), back.size());
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(back.substr(0, *n), chunk.substr(0, *n));
  // Short data is reported when the archive is closed.
  EXPECT_FALSE(w.Close().ok());

  TarEntry f;
  f.path = "data";
  f.size = 1000;
  TarEntry round = Roundtrip(f, testing::SomeBytes(1000, 7));
  EXPECT_EQ(round.size, 1000);
}

TEST(TarFormatTest, ReaderTakesUstarPrefixAndBase256) {
  testing::RawHeader h{.name = "file", .mode = 0600};
  std::string block = testing::RawTarHeader(h);
  // ustar prefix "some/dir" and a base-256 uid of 5,000,000,000 (fix the checksum after).
  std::memcpy(block.data() + 345, "some/dir", 8);
  unsigned char uid[8] = {0x80, 0, 0, 0x01, 0x2a, 0x05, 0xf2, 0x00};
  std::memcpy(block.data() + 108, uid, 8);
  std::memset(block.data() + 148, ' ', 8);
  unsigned sum = 0;
  for (unsigned char c : block) sum += c;
  char cs[16];
  std::snprintf(cs, sizeof(cs), "%06o", sum);
  std::memcpy(block.data() + 148, cs, 7);
  std::string tar = block + testing::RawTarEnd();
  StringSource src(tar);
  TarReader r(&src);
  auto e = r.Next();
  // 5e9 does not fit a uid_t: rejected, not truncated.
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.status().code(), absl::StatusCode::kInvalidArgument) << e.status();

  unsigned char small[8] = {0x80, 0, 0, 0, 0, 0x0f, 0x42, 0x40};  // 1,000,000
  std::memcpy(block.data() + 108, small, 8);
  std::memset(block.data() + 148, ' ', 8);
  sum = 0;
  for (unsigned char c : block) sum += c;
  std::snprintf(cs, sizeof(cs), "%06o", sum);
  std::memcpy(block.data() + 148, cs, 7);
  tar = block + testing::RawTarEnd();
  StringSource src2(tar);
  TarReader r2(&src2);
  auto e2 = r2.Next();
  ASSERT_TRUE(e2.ok()) << e2.status();
  ASSERT_TRUE(e2->has_value());
  EXPECT_EQ((*e2)->path, "some/dir/file");
  EXPECT_EQ((*e2)->uid, 1000000u);
}

TEST(TarFormatTest, MalformedPaxRecordsAreInvalidArgument) {
  for (const std::string& body : {std::string("999 path=x\n"), std::string("5 a\n"),
                                  std::string("x path=y\n"), std::string("11 path=abc")}) {
    testing::RawHeader h{.name = "p", .type = 'x', .size = static_cast<int64_t>(body.size())};
    std::string tar = testing::RawTarEntry(h, body) +
                      testing::RawTarEntry(testing::RawHeader{.name = "f"}, "x") +
                      testing::RawTarEnd();
    StringSource src(tar);
    TarReader r(&src);
    auto e = r.Next();
    EXPECT_FALSE(e.ok()) << body;
    EXPECT_EQ(e.status().code(), absl::StatusCode::kInvalidArgument) << body << e.status();
  }
}

}  // namespace
}  // namespace kiln::snapshotter::internal
