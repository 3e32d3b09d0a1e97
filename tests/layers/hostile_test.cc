// Hostile layers, made by hand: every case checks that nothing outside the target changed
// (a sentinel directory next to it, and the host's /etc/passwd) and that the result is the
// documented error or neutralised entry.
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <string>

#include "base/temp_dir.h"
#include "base/userns.h"
#include "gtest/gtest.h"
#include "snapshotter/diff/applier.h"
#include "snapshotter/diff/differ.h"
#include "tests/layers/test_util.h"

namespace kiln::snapshotter {
namespace {

using testing::RawHeader;
using testing::RawPax;
using testing::RawTarEnd;
using testing::RawTarEntry;
using testing::Snapshot;

RawHeader File(const std::string& name) { return RawHeader{.name = name}; }
RawHeader Dir(const std::string& name) {
  return RawHeader{.name = name, .type = '5', .mode = 0755};
}
RawHeader Symlink(const std::string& name, const std::string& target) {
  return RawHeader{.name = name, .type = '2', .mode = 0777, .linkname = target};
}
RawHeader Hardlink(const std::string& name, const std::string& target) {
  return RawHeader{.name = name, .type = '1', .linkname = target};
}

class HostileTarTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto t = base::TempDir::Create("kiln-layers-hostile-");
    ASSERT_TRUE(t.ok()) << t.status();
    tmp_ = std::move(*t);
    target_ = tmp_.path() + "/target";
    sentinel_ = tmp_.path() + "/sentinel";
    testing::MakeDir(target_);
    testing::MakeDir(sentinel_);
    testing::MakeDir(sentinel_ + "/etc");
    testing::WriteFile(sentinel_ + "/secret", "do not touch");
    testing::WriteFile(sentinel_ + "/etc/passwd", "root:x:0:0::/root:/bin/sh\n");
    sentinel_before_ = Snapshot(sentinel_);
    ASSERT_EQ(::stat("/etc/passwd", &passwd_before_), 0);
  }

  void TearDown() override {
    EXPECT_EQ(testing::DiffTreesText(sentinel_before_, Snapshot(sentinel_)), "")
        << "the sentinel next to the target changed";
    testing::Tree top = Snapshot(tmp_.path(), /*with_mtimes=*/false);
    for (const auto& [path, node] : top) {
      bool inside = path == "target" || path.rfind("target/", 0) == 0 || path == "sentinel" ||
                    path.rfind("sentinel/", 0) == 0;
      EXPECT_TRUE(inside) << "written outside the target: " << path;
    }
    struct stat now {};
    ASSERT_EQ(::stat("/etc/passwd", &now), 0);
    EXPECT_EQ(now.st_nlink, passwd_before_.st_nlink) << "host /etc/passwd got a hardlink";
  }

  absl::StatusOr<ApplyResult> Apply(const std::string& tar) {
    StringSource src(tar);
    return ApplyLayer(&src, target_);
  }
  bool Exists(const std::string& rel) {
    struct stat st {};
    return ::lstat((target_ + "/" + rel).c_str(), &st) == 0;
  }

  base::TempDir tmp_;
  std::string target_, sentinel_;
  testing::Tree sentinel_before_;
  struct stat passwd_before_ {};
};

TEST_F(HostileTarTest, DotDotTraversalIsRejected) {
  for (const char* name :
       {"../../etc/x", "../sentinel/pwn", "a/../../sentinel/pwn", "./../sentinel/secret"}) {
    auto r = Apply(RawTarEntry(File(name), "pwned") + RawTarEnd());
    ASSERT_FALSE(r.ok()) << name;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << r.status();
    EXPECT_NE(r.status().message().find("'..'"), absl::string_view::npos) << r.status();
  }
  // The same through a pax path and a GNU long name.
  auto r = Apply(RawPax("pax", {{"path", "../sentinel/pwn"}}) + RawTarEntry(File("ok"), "x") +
                 RawTarEnd());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << r.status();
  RawHeader longname{.name = "././@LongLink", .type = 'L'};
  auto r2 = Apply(RawTarEntry(longname, "../../sentinel/pwn") + RawTarEntry(File("ok"), "x") +
                  RawTarEnd());
  EXPECT_EQ(r2.status().code(), absl::StatusCode::kInvalidArgument) << r2.status();
}

TEST_F(HostileTarTest, AbsolutePathsAreNeutralisedIntoTheTarget) {
  std::string abs = sentinel_ + "/pwn";
  auto r = Apply(RawTarEntry(File("/abs/file"), "x") + RawTarEntry(File(abs), "y") + RawTarEnd());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(testing::ReadFile(target_ + "/abs/file"), "x");
  EXPECT_EQ(testing::ReadFile(target_ + abs), "y");
}

TEST_F(HostileTarTest, SymlinkToRootThenFileUnderItStaysInside) {
  // Parents that a symlink points at must exist inside the target (the layer makes them).
  auto r = Apply(RawTarEntry(Dir("sentinel/")) + RawTarEntry(Dir(sentinel_ + "/")) +
                 RawTarEntry(Symlink("root", "/")) + RawTarEntry(File("root/escaped"), "x") +
                 RawTarEntry(Symlink("up", "../sentinel")) + RawTarEntry(File("up/secret"), "y") +
                 RawTarEntry(Symlink("abs", sentinel_)) + RawTarEntry(File("abs/secret"), "z") +
                 RawTarEnd());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(testing::ReadFile(target_ + "/escaped"), "x");
  EXPECT_EQ(testing::ReadFile(target_ + "/sentinel/secret"), "y");
  EXPECT_EQ(testing::ReadFile(target_ + sentinel_ + "/secret"), "z");
}

TEST_F(HostileTarTest, AbsoluteSymlinkChainsResolveInsideTheRoot) {
  auto r = Apply(RawTarEntry(Dir(sentinel_ + "/")) + RawTarEntry(Symlink("a", "/b")) +
                 RawTarEntry(Symlink("b", "../../..")) +
                 RawTarEntry(Symlink("c", "a/../../../../" + sentinel_)) +
                 RawTarEntry(File("a/chained"), "x") + RawTarEntry(File("c/secret"), "w") +
                 RawTarEntry(RawHeader{.name = "a/.wh.secret"}) + RawTarEnd());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(testing::ReadFile(target_ + "/chained"), "x");
  EXPECT_EQ(testing::ReadFile(target_ + sentinel_ + "/secret"), "w");
  // A symlinked parent that points at a missing directory is an error, never a write elsewhere.
  auto r2 = Apply(RawTarEntry(Symlink("dangling", sentinel_ + "/etc")) +
                  RawTarEntry(File("dangling/passwd"), "pwned") + RawTarEnd());
  EXPECT_EQ(r2.status().code(), absl::StatusCode::kNotFound) << r2.status();
}

TEST_F(HostileTarTest, HardlinksCannotReachOutside) {
  auto r = Apply(RawTarEntry(Hardlink("pw", "/etc/passwd")) + RawTarEnd());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound) << r.status();
  auto r2 = Apply(RawTarEntry(Hardlink("s", "../sentinel/secret")) + RawTarEnd());
  EXPECT_EQ(r2.status().code(), absl::StatusCode::kInvalidArgument) << r2.status();
  // Via a symlinked directory (relative and absolute): resolved inside the target, where
  // there is no such file.
  auto r3 = Apply(RawTarEntry(Symlink("sl", "../sentinel")) +
                  RawTarEntry(Hardlink("h", "sl/secret")) + RawTarEnd());
  EXPECT_EQ(r3.status().code(), absl::StatusCode::kNotFound) << r3.status();
  auto r4 = Apply(RawTarEntry(Symlink("sa", sentinel_ + "/etc")) +
                  RawTarEntry(Hardlink("h2", "sa/passwd")) + RawTarEnd());
  EXPECT_EQ(r4.status().code(), absl::StatusCode::kNotFound) << r4.status();
  // A link to a file the layer itself put inside works and shares the inode.
  auto r5 = Apply(RawTarEntry(Dir("etc/")) + RawTarEntry(File("etc/passwd"), "inner") +
                  RawTarEntry(Symlink("e", "/etc")) + RawTarEntry(Hardlink("h3", "e/passwd")) +
                  RawTarEnd());
  ASSERT_TRUE(r5.ok()) << r5.status();
  struct stat a {
  }, b{};
  ASSERT_EQ(::stat((target_ + "/etc/passwd").c_str(), &a), 0);
  ASSERT_EQ(::stat((target_ + "/h3").c_str(), &b), 0);
  EXPECT_EQ(a.st_ino, b.st_ino);
  EXPECT_EQ(testing::ReadFile(target_ + "/h3"), "inner");
}

TEST_F(HostileTarTest, DeviceNodesNeedRealRoot) {
  RawHeader dev{.name = "dev/mem2", .type = '3', .mode = 0666, .devmajor = 1, .devminor = 1};
  auto r = Apply(RawTarEntry(Dir("dev/")) + RawTarEntry(dev) + RawTarEnd());
  ASSERT_TRUE(r.ok()) << r.status();
  struct stat st {};
  if (base::InUserNamespace()) {
    EXPECT_FALSE(Exists("dev/mem2"));
    ASSERT_EQ(r->warnings.size(), 1u);
    EXPECT_NE(r->warnings[0].find("skipped device node 'dev/mem2'"), std::string::npos);
  } else {
    ASSERT_EQ(::lstat((target_ + "/dev/mem2").c_str(), &st), 0);
    EXPECT_TRUE(S_ISCHR(st.st_mode));
    EXPECT_EQ(st.st_rdev, makedev(1, 1));
  }
}

// Produces a pax header that claims `size` bytes and then an endless path attribute.
class HugePaxSource : public ByteSource {
 public:
  explicit HugePaxSource(int64_t size) {
    RawHeader h{.name = "PaxHeaders/x", .type = 'x', .size = size};
    head_ = testing::RawTarHeader(h) + std::to_string(size) + " path=";
  }
  absl::StatusOr<size_t> Read(void* buf, size_t len) override {
    char* p = static_cast<char*>(buf);
    size_t n = 0;
    for (; n < len; ++n, ++served_) {
      p[n] = served_ < head_.size() ? head_[served_] : 'a';
    }
    return n;
  }
  size_t served() const { return served_; }

 private:
  std::string head_;
  size_t served_ = 0;
};

TEST_F(HostileTarTest, HugePaxHeaderIsRejectedBeforeAllocation) {
  HugePaxSource src(100 * 1000 * 1000);
  auto r = ApplyLayer(&src, target_);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << r.status();
  EXPECT_NE(r.status().message().find("exceeds the limit"), absl::string_view::npos);
  EXPECT_LT(src.served(), size_t{2} << 20) << "the reader consumed the oversized header";
  // Just under the cap but with an over-long path: rejected by the path limit.
  std::string longpath(8000, 'p');
  auto r2 = Apply(RawPax("x", {{"path", longpath}}) + RawTarEntry(File("f"), "x") + RawTarEnd());
  EXPECT_EQ(r2.status().code(), absl::StatusCode::kInvalidArgument) << r2.status();
}

TEST_F(HostileTarTest, TruncatedAndCorruptArchivesAreCleanErrors) {
  std::string data = testing::SomeBytes(10000, 3);
  std::string good = RawTarEntry(Dir("d/")) + RawTarEntry(File("d/f"), data) + RawTarEnd();
  ASSERT_TRUE(Apply(good).ok());
  auto r = Apply(good.substr(0, 512 + 512 + 4000));  // inside the file data
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss) << r.status();
  auto r2 = Apply(good.substr(0, 512 + 300));  // inside a header
  EXPECT_EQ(r2.status().code(), absl::StatusCode::kDataLoss) << r2.status();
  RawHeader bad = File("bad");
  bad.corrupt_checksum = true;
  auto r3 = Apply(RawTarEntry(bad, "x") + RawTarEnd());
  EXPECT_EQ(r3.status().code(), absl::StatusCode::kInvalidArgument) << r3.status();
  auto r4 = Apply(std::string(512, 'Z'));
  EXPECT_EQ(r4.status().code(), absl::StatusCode::kInvalidArgument) << r4.status();
  RawHeader sparse = File("sparse");
  sparse.type = 'S';
  auto r5 = Apply(RawTarEntry(sparse) + RawTarEnd());
  EXPECT_EQ(r5.status().code(), absl::StatusCode::kInvalidArgument) << r5.status();
}

TEST_F(HostileTarTest, CorruptOrTruncatedCompressionIsDataLoss) {
  std::string src = tmp_.path() + "/target/src";
  testing::MakeDir(src);
  testing::WriteFile(src + "/f", testing::SomeBytes(3 << 20, 5));
  for (Compression c : {Compression::kGzip, Compression::kZstd}) {
    SCOPED_TRACE(std::string(MediaTypeFor(c)));
    testing::StringSink sink;
    DiffOptions o;
    o.encoder.compression = c;
    o.encoder.gzip_block_size = 256 * 1024;
    ASSERT_TRUE(DiffTrees("", src, o, &sink).ok());
    std::string blob = sink.data();
    auto t = Apply(blob.substr(0, blob.size() / 2));
    EXPECT_EQ(t.status().code(), absl::StatusCode::kDataLoss) << t.status();
    auto t2 = Apply(blob.substr(0, blob.size() - 3));
    EXPECT_EQ(t2.status().code(), absl::StatusCode::kDataLoss) << t2.status();
    std::string corrupt = blob;
    for (size_t i = corrupt.size() / 3; i < corrupt.size() / 3 + 64; ++i) corrupt[i] ^= 0x5a;
    auto t3 = Apply(corrupt);
    EXPECT_EQ(t3.status().code(), absl::StatusCode::kDataLoss) << t3.status();
  }
}

TEST_F(HostileTarTest, WhiteoutsCannotEscapeOrNameDotDot) {
  auto r = Apply(RawTarEntry(RawHeader{.name = "../.wh.sentinel"}) + RawTarEnd());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << r.status();
  auto r2 = Apply(RawTarEntry(RawHeader{.name = "d/.wh.."}) + RawTarEnd());
  EXPECT_EQ(r2.status().code(), absl::StatusCode::kInvalidArgument) << r2.status();
  auto r3 =
      Apply(RawTarEntry(Symlink("s", sentinel_)) + RawTarEntry(RawHeader{.name = "s/.wh.secret"}) +
            RawTarEntry(RawHeader{.name = "s/.wh..wh..opq"}) + RawTarEnd());
  EXPECT_TRUE(r3.ok()) << r3.status();
}

TEST_F(HostileTarTest, ExistingSymlinkAtTheEntryPathIsReplacedNotFollowed) {
  ASSERT_EQ(::symlink((sentinel_ + "/secret").c_str(), (target_ + "/f").c_str()), 0);
  ASSERT_EQ(::symlink(sentinel_.c_str(), (target_ + "/d").c_str()), 0);
  auto r = Apply(RawTarEntry(File("f"), "replaced") + RawTarEntry(Dir("d/")) +
                 RawTarEntry(File("d/secret"), "inside") + RawTarEnd());
  ASSERT_TRUE(r.ok()) << r.status();
  struct stat st {};
  ASSERT_EQ(::lstat((target_ + "/f").c_str(), &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode));
  EXPECT_EQ(testing::ReadFile(target_ + "/d/secret"), "inside");
}

// Random byte flips over a layer with every entry kind: each apply must end in OK or a clean
// error (ASan/UBSan watch for the rest), and TearDown checks nothing escaped the target.
TEST_F(HostileTarTest, RandomMutationsNeverCrashOrEscape) {
  std::string good =
      RawTarEntry(Dir("d/")) + RawTarEntry(File("d/f"), testing::SomeBytes(3000, 1)) +
      RawTarEntry(Symlink("d/up", "../../sentinel")) + RawTarEntry(Hardlink("d/h", "d/f")) +
      RawPax("p", {{"path", "d/long-" + std::string(150, 'x')}, {"SCHILY.xattr.user.a", "v"}}) +
      RawTarEntry(File("ignored"), "data") + RawTarEntry(RawHeader{.name = "d/.wh.f"}) +
      RawTarEntry(RawHeader{.name = "d/.wh..wh..opq"}) + RawTarEnd();
  uint32_t x = 12345;
  auto next = [&x] {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return x;
  };
  int errors = 0;
  for (int round = 0; round < 400; ++round) {
    std::string bad = good;
    int flips = 1 + static_cast<int>(next() % 4);
    for (int i = 0; i < flips; ++i) {
      size_t at = next() % bad.size();
      bad[at] = static_cast<char>(next() % 3 == 0 ? '/' : next() % 3 == 0 ? '.' : next());
    }
    if (next() % 8 == 0) bad.resize(next() % bad.size());
    auto r = Apply(bad);
    if (!r.ok()) ++errors;
  }
  EXPECT_GT(errors, 0);
}

}  // namespace
}  // namespace kiln::snapshotter
