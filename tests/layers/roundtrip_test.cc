// Round trips: tree -> diff -> apply -> identical tree; tree comparison; determinism and
// SOURCE_DATE_EPOCH clamping.
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "base/digest.h"
#include "base/temp_dir.h"
#include "base/userns.h"
#include "gtest/gtest.h"
#include "snapshotter/diff/applier.h"
#include "snapshotter/diff/differ.h"
#include "tests/layers/test_util.h"

namespace kiln::snapshotter {
namespace {

using testing::MakeDir;
using testing::SetMtime;
using testing::SetXattr;
using testing::Snapshot;
using testing::StringSink;
using testing::WriteFile;

class RoundTripTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto t = base::TempDir::Create("kiln-layers-");
    ASSERT_TRUE(t.ok()) << t.status();
    tmp_ = std::move(*t);
  }
  std::string Dir(const std::string& name) {
    std::string p = tmp_.path() + "/" + name;
    if (::access(p.c_str(), F_OK) != 0) MakeDir(p);
    return p;
  }

  // Every kind of entry the layer format carries.
  void BuildRichTree(const std::string& r) {
    MakeDir(r + "/bin", 0755);
    WriteFile(r + "/bin/tool", testing::SomeBytes(3 * 1024 * 1024 + 17, 1), 0755);
    WriteFile(r + "/bin/suid", "setuid payload", 04755);
    WriteFile(r + "/empty-file", "", 0600);
    MakeDir(r + "/empty-dir", 0700);
    MakeDir(r + "/etc", 0755);
    WriteFile(r + "/etc/config", "key=value\n", 0640);
    ASSERT_EQ(::chown((r + "/etc/config").c_str(), 1000, 1001), 0);
    ASSERT_EQ(::link((r + "/etc/config").c_str(), (r + "/etc/config.hardlink").c_str()), 0);
    ASSERT_EQ(::symlink("config", (r + "/etc/rel-link").c_str()), 0);
    ASSERT_EQ(::symlink("/etc/config", (r + "/abs-link").c_str()), 0);
    ASSERT_EQ(::symlink("does/not/exist", (r + "/dangling").c_str()), 0);
    ASSERT_EQ(::mkfifo((r + "/fifo").c_str(), 0620), 0);
    SetXattr(r + "/etc/config", "user.kiln.test", std::string("value\0with nul", 14));
    SetXattr(r + "/etc", "user.dir.attr", "d");
    std::string deep = r + "/a";
    MakeDir(deep);
    for (int i = 0; i < 12; ++i) {
      deep += "/long-directory-name-" + std::to_string(i);
      MakeDir(deep);
    }
    WriteFile(deep + "/file-with-a-path-longer-than-one-hundred-bytes", "deep", 0644);
    ASSERT_EQ(::chown((r + "/bin").c_str(), 0, 1002), 0);
    int64_t t = 1600000000;
    for (const char* p : {"/bin/tool", "/bin/suid", "/empty-file", "/etc/config", "/fifo",
                          "/etc/rel-link", "/abs-link", "/dangling"}) {
      SetMtime(r + p, t++);
    }
    for (const char* p : {"/bin", "/empty-dir", "/etc", "/a"}) SetMtime(r + p, t++);
  }

  LayerDescriptor Diff(const std::string& lower, const std::string& upper, Compression c,
                       StringSink* sink, std::optional<int64_t> epoch = std::nullopt) {
    DiffOptions o;
    o.encoder.compression = c;
    o.source_date_epoch = epoch;
    auto d = DiffTrees(lower, upper, o, sink);
    EXPECT_TRUE(d.ok()) << d.status();
    return d.ok() ? *d : LayerDescriptor{};
  }

  ApplyResult Apply(const std::string& blob, const std::string& target) {
    StringSource src(blob);
    auto r = ApplyLayer(&src, target);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : ApplyResult{};
  }

  base::TempDir tmp_;
};

TEST_F(RoundTripTest, EveryCompressionReproducesTheTree) {
  std::string src = Dir("src");
  BuildRichTree(src);
  testing::Tree want = Snapshot(src);
  ASSERT_GT(want.size(), 20u);
  // The comparison really covers xattrs, hardlinks, fifos, setuid and ownership.
  EXPECT_EQ(want["etc/config"].xattrs["user.kiln.test"], std::string("value\0with nul", 14));
  EXPECT_EQ(want["etc/config.hardlink"].link_group, "etc/config");
  EXPECT_EQ(want["fifo"].type, 'p');
  EXPECT_EQ(want["bin/suid"].mode, 04755u);
  EXPECT_EQ(want["etc/config"].uid, 1000u);
  for (Compression c : {Compression::kNone, Compression::kGzip, Compression::kZstd}) {
    SCOPED_TRACE(std::string(MediaTypeFor(c)));
    StringSink sink;
    LayerDescriptor d = Diff("", src, c, &sink);
    EXPECT_EQ(d.media_type, std::string(MediaTypeFor(c)));
    EXPECT_EQ(d.size, static_cast<int64_t>(sink.data().size()));
    EXPECT_EQ(d.digest, base::Digest::Of(sink.data()));
    std::string dst = Dir(std::string("dst-") + std::to_string(static_cast<int>(c)));
    ApplyResult r = Apply(sink.data(), dst);
    EXPECT_EQ(r.compression, c);
    EXPECT_EQ(r.diff_id, d.diff_id);
    EXPECT_EQ(r.uncompressed_size, d.uncompressed_size);
    EXPECT_TRUE(r.warnings.empty()) << r.warnings.front();
    EXPECT_EQ(testing::DiffTreesText(want, Snapshot(dst)), "");
  }
}

TEST_F(RoundTripTest, SameTreeTwiceGivesSameDigests) {
  std::string a = Dir("a"), b = Dir("b");
  BuildRichTree(a);
  testing::CopyTree(a, b);  // different inodes, ctimes and atimes
  ASSERT_EQ(testing::DiffTreesText(Snapshot(a), Snapshot(b)), "");
  for (Compression c : {Compression::kNone, Compression::kGzip, Compression::kZstd}) {
    StringSink s1, s2, s3;
    LayerDescriptor d1 = Diff("", a, c, &s1);
    LayerDescriptor d2 = Diff("", a, c, &s2);
    LayerDescriptor d3 = Diff("", b, c, &s3);
    EXPECT_EQ(d1.digest, d2.digest);
    EXPECT_EQ(d1.diff_id, d3.diff_id);
    EXPECT_EQ(d1.digest, d3.digest);
    EXPECT_EQ(s1.data(), s3.data());
  }
}

TEST_F(RoundTripTest, SourceDateEpochClampsOnlyNewerMtimes) {
  std::string a = Dir("a");
  WriteFile(a + "/old", "old");
  WriteFile(a + "/new", "new");
  MakeDir(a + "/newdir");
  SetMtime(a + "/old", 1000);
  SetMtime(a + "/new", 2000000000);
  SetMtime(a + "/newdir", 2000000001);
  StringSink sink;
  Diff("", a, Compression::kGzip, &sink, 1500000000);
  std::string dst = Dir("dst");
  Apply(sink.data(), dst);
  testing::Tree t = Snapshot(dst);
  EXPECT_EQ(t["old"].mtime, 1000);
  EXPECT_EQ(t["new"].mtime, 1500000000);
  EXPECT_EQ(t["newdir"].mtime, 1500000000);
  // Two trees that differ only in mtimes after the epoch give the same layer.
  SetMtime(a + "/new", 2100000000);
  StringSink sink2;
  Diff("", a, Compression::kGzip, &sink2, 1500000000);
  EXPECT_EQ(sink.data(), sink2.data());
  StringSink unclamped;
  Diff("", a, Compression::kGzip, &unclamped);
  EXPECT_NE(sink.data(), unclamped.data());
}

TEST_F(RoundTripTest, TreeCompareEmitsChangesWhiteoutsAndParents) {
  std::string lower = Dir("lower"), upper = Dir("upper");
  BuildRichTree(lower);
  testing::CopyTree(lower, upper);
  // Changes in upper.
  WriteFile(upper + "/etc/new-file", "new");                   // add in unchanged dir
  ASSERT_EQ(::unlink((upper + "/empty-file").c_str()), 0);     // delete file
  ASSERT_EQ(testing::Shell("rm -rf '" + upper + "/a'"), 0);    // delete dir tree
  ASSERT_EQ(::chmod((upper + "/bin/suid").c_str(), 0755), 0);  // mode change
  std::string tool = testing::ReadFile(upper + "/bin/tool");
  tool[100] ^= 1;  // same size, same mtime
  WriteFile(upper + "/bin/tool", tool, 0755);
  SetMtime(upper + "/bin/tool", 1600000000);
  SetMtime(upper + "/bin", 1600000008);
  SetMtime(upper + "/etc", 1600000010);
  ASSERT_EQ(::unlink((upper + "/fifo").c_str()), 0);  // type change
  MakeDir(upper + "/fifo");
  WriteFile(upper + "/fifo/inside", "x");
  testing::Tree want = Snapshot(upper);

  StringSink sink;
  LayerDescriptor d = Diff(lower, upper, Compression::kNone, &sink);
  // The layer names only what changed (plus parents).
  const std::string& tar = sink.data();
  EXPECT_NE(tar.find(".wh.empty-file"), std::string::npos);
  EXPECT_NE(tar.find(".wh.a"), std::string::npos);
  EXPECT_NE(tar.find("etc/new-file"), std::string::npos);
  EXPECT_NE(tar.find("bin/tool"), std::string::npos);
  EXPECT_EQ(tar.find("empty-dir"), std::string::npos);
  EXPECT_EQ(tar.find("abs-link"), std::string::npos);
  EXPECT_LT(d.uncompressed_size, 4 * 1024 * 1024 + 64 * 1024);

  std::string dst = Dir("dst");
  testing::CopyTree(lower, dst);
  Apply(sink.data(), dst);
  EXPECT_EQ(testing::DiffTreesText(want, Snapshot(dst)), "");
}

TEST_F(RoundTripTest, ContentOnlyChangesWithNanosecondMtimes) {
  std::string lower = Dir("lower"), upper = Dir("upper");
  WriteFile(lower + "/f", "aaaa");
  struct timespec t[2] = {{1600000000, 123456789}, {1600000000, 123456789}};
  ASSERT_EQ(::utimensat(AT_FDCWD, (lower + "/f").c_str(), t, 0), 0);
  testing::CopyTree(lower, upper);
  WriteFile(upper + "/f", "bbbb");
  ASSERT_EQ(::utimensat(AT_FDCWD, (upper + "/f").c_str(), t, 0), 0);
  // Metadata identical to the nanosecond: by default trusted (containerd's rule)...
  StringSink quick;
  LayerDescriptor d = Diff(lower, upper, Compression::kNone, &quick);
  EXPECT_EQ(d.uncompressed_size, 1024);
  // ...and found when asked to compare content.
  DiffOptions o;
  o.encoder.compression = Compression::kNone;
  o.always_compare_content = true;
  StringSink full;
  auto d2 = DiffTrees(lower, upper, o, &full);
  ASSERT_TRUE(d2.ok()) << d2.status();
  EXPECT_NE(full.data().find("bbbb"), std::string::npos);
}

TEST_F(RoundTripTest, IdenticalTreesGiveAnEmptyLayer) {
  std::string lower = Dir("lower"), upper = Dir("upper");
  BuildRichTree(lower);
  testing::CopyTree(lower, upper);
  StringSink sink;
  LayerDescriptor d = Diff(lower, upper, Compression::kNone, &sink);
  EXPECT_EQ(d.uncompressed_size, 1024);  // just the end-of-archive blocks
}

TEST_F(RoundTripTest, NewHardlinkToAnUnchangedFileStaysAHardlink) {
  std::string lower = Dir("lower"), upper = Dir("upper"), dst = Dir("dst");
  WriteFile(lower + "/a", testing::SomeBytes(100000, 9));
  SetMtime(lower + "/a", 1600000000);
  testing::CopyTree(lower, upper);
  testing::CopyTree(lower, dst);
  ASSERT_EQ(::link((upper + "/a").c_str(), (upper + "/b").c_str()), 0);
  StringSink sink;
  LayerDescriptor d = Diff(lower, upper, Compression::kNone, &sink);
  EXPECT_LT(d.uncompressed_size, 10000) << "the link was written as a second copy";
  Apply(sink.data(), dst);
  struct stat a {
  }, b{};
  ASSERT_EQ(::stat((dst + "/a").c_str(), &a), 0);
  ASSERT_EQ(::stat((dst + "/b").c_str(), &b), 0);
  EXPECT_EQ(a.st_ino, b.st_ino);
}

TEST_F(RoundTripTest, EntriesAreSortedDepthFirstWithNumericOwners) {
  std::string a = Dir("a");
  WriteFile(a + "/b", "b");
  WriteFile(a + "/a.txt", "t");
  MakeDir(a + "/a");
  WriteFile(a + "/a/x", "x");
  MakeDir(a + "/a/y");
  WriteFile(a + "/a/y/z", "z");
  WriteFile(a + "/A", "A");
  ASSERT_EQ(::chown((a + "/b").c_str(), 4242, 4343), 0);
  StringSink sink;
  Diff("", a, Compression::kGzip, &sink);
  struct archive* ar = archive_read_new();
  archive_read_support_filter_all(ar);
  archive_read_support_format_all(ar);
  ASSERT_EQ(archive_read_open_memory(ar, sink.data().data(), sink.data().size()), ARCHIVE_OK);
  std::vector<std::string> names;
  struct archive_entry* e = nullptr;
  while (archive_read_next_header(ar, &e) == ARCHIVE_OK) {
    names.push_back(archive_entry_pathname(e));
    const char* uname = archive_entry_uname(e);
    const char* gname = archive_entry_gname(e);
    EXPECT_TRUE(uname == nullptr || *uname == '\0') << names.back() << " uname " << uname;
    EXPECT_TRUE(gname == nullptr || *gname == '\0') << names.back() << " gname " << gname;
    if (names.back() == "b") {
      EXPECT_EQ(archive_entry_uid(e), 4242);
      EXPECT_EQ(archive_entry_gid(e), 4343);
    }
  }
  archive_read_free(ar);
  std::vector<std::string> want = {"A", "a/", "a/x", "a/y/", "a/y/z", "a.txt", "b"};
  EXPECT_EQ(names, want);
}

TEST_F(RoundTripTest, OwnersOutsideTheIdMappingFailOrMapToRoot) {
  std::string a = Dir("a");
  WriteFile(a + "/f", "f");
  StringSink sink;
  // Write a layer claiming uid/gid 2000000 (outside any subordinate range here).
  {
    DiffOptions o;
    o.encoder.compression = Compression::kNone;
    auto d = DiffTrees("", a, o, &sink);
    ASSERT_TRUE(d.ok()) << d.status();
  }
  std::string tar = sink.data();
  // Patch the uid/gid octal fields of the first header and fix its checksum.
  std::memcpy(tar.data() + 108, "7502200", 8);  // 2000000 in octal, NUL-terminated
  std::memcpy(tar.data() + 116, "7502200", 8);
  std::memset(tar.data() + 148, ' ', 8);
  unsigned sum = 0;
  for (int i = 0; i < 512; ++i) sum += static_cast<unsigned char>(tar[static_cast<size_t>(i)]);
  char cs[16];
  std::snprintf(cs, sizeof(cs), "%06o", sum);
  std::memcpy(tar.data() + 148, cs, 7);
  tar[155] = ' ';
  std::string dst = Dir("dst"), dst2 = Dir("dst2");
  StringSource src(tar);
  auto r = ApplyLayer(&src, dst);
  StringSource src2(tar);
  ApplyOptions map_to_root;
  map_to_root.unmapped_ids = UnmappedIds::kMapToRoot;
  auto r2 = ApplyLayer(&src2, dst2, map_to_root);
  ASSERT_TRUE(r2.ok()) << r2.status();
  struct stat st {};
  ASSERT_EQ(::stat((dst2 + "/f").c_str(), &st), 0);
  if (base::MappedUidCount() < 2000000) {
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << r.status();
    EXPECT_NE(r.status().message().find("not mapped"), absl::string_view::npos) << r.status();
    EXPECT_EQ(st.st_uid, 0u);
    ASSERT_EQ(r2->warnings.size(), 1u);
  } else {
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(st.st_uid, 2000000u);
    EXPECT_TRUE(r2->warnings.empty());
  }
}

}  // namespace
}  // namespace kiln::snapshotter
