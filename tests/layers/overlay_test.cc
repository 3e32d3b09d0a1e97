// Overlay upperdir diffs: a real overlay mount over a lower dir, changes made through the
// mount (deletes become kernel whiteouts, a recreated dir becomes opaque), then the upperdir
// is diffed and applied both onto a plain copy of lower and onto another overlay mount.
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "base/mount.h"
#include "base/temp_dir.h"
#include "base/userns.h"
#include "gtest/gtest.h"
#include "snapshotter/diff/applier.h"
#include "snapshotter/diff/differ.h"
#include "tests/layers/test_util.h"

namespace kiln::snapshotter {
namespace {

using testing::MakeDir;
using testing::Snapshot;
using testing::StringSink;
using testing::WriteFile;

class OverlayDiffTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto t = base::TempDir::Create("kiln-layers-ovl-");
    ASSERT_TRUE(t.ok()) << t.status();
    tmp_ = std::move(*t);
    for (const char* d :
         {"lower", "upper", "work", "merged", "copy", "upper2", "work2", "merged2"}) {
      MakeDir(tmp_.path() + "/" + d);
    }
    std::string l = P("lower");
    MakeDir(l + "/keep");
    WriteFile(l + "/keep/a", "a");
    WriteFile(l + "/keep/b", "b");
    MakeDir(l + "/gone-dir");
    WriteFile(l + "/gone-dir/x", "x");
    WriteFile(l + "/gone-file", "g");
    MakeDir(l + "/remade");
    WriteFile(l + "/remade/old1", "1");
    WriteFile(l + "/remade/old2", "2");
    WriteFile(l + "/modified", "before");
  }
  void TearDown() override {
    // Unmount before the temp dir is removed, even if a test failed midway.
    mounted_.clear();
  }

  std::string P(const std::string& name) { return tmp_.path() + "/" + name; }

  base::Mount Overlay(const std::string& lower, const std::string& upper, const std::string& work) {
    base::Mount m{
        "overlay", "overlay", {"lowerdir=" + lower, "upperdir=" + upper, "workdir=" + work}};
    if (base::InUserNamespace()) m.options.push_back("userxattr");
    return m;
  }

  void MountOverlay(const base::Mount& m, const std::string& at) {
    absl::Status s = base::MountAt(m, at);
    ASSERT_TRUE(s.ok()) << "overlay is required for these tests: " << s;
    mounted_.emplace_back(at);
  }

  // Changes through the mount, as a RUN step would.
  void ChangeThroughMount(const std::string& m) {
    ASSERT_EQ(::unlink((m + "/gone-file").c_str()), 0);
    ASSERT_EQ(testing::Shell("rm -rf '" + m + "/gone-dir'"), 0);
    ASSERT_EQ(testing::Shell("rm -rf '" + m + "/remade'"), 0);
    MakeDir(m + "/remade");
    WriteFile(m + "/remade/new", "new");
    WriteFile(m + "/modified", "after!");
    WriteFile(m + "/keep/c", "c");
    testing::SetXattr(m + "/keep/c", "user.note", "hello");
  }

  base::TempDir tmp_;
  std::vector<base::ScopedMount> mounted_;
};

TEST_F(OverlayDiffTest, UpperDirBecomesOciWhiteoutsAndOpaqueDirs) {
  base::Mount m = Overlay(P("lower"), P("upper"), P("work"));
  MountOverlay(m, P("merged"));
  ChangeThroughMount(P("merged"));
  testing::Tree want = Snapshot(P("merged"));
  mounted_.clear();

  StringSink sink;
  DiffOptions o;
  o.encoder.compression = Compression::kNone;
  auto d = DiffUpperDir(P("upper"), o, &sink);
  ASSERT_TRUE(d.ok()) << d.status();
  const std::string& tar = sink.data();
  EXPECT_NE(tar.find(".wh.gone-file"), std::string::npos);
  EXPECT_NE(tar.find(".wh.gone-dir"), std::string::npos);
  EXPECT_NE(tar.find("remade/.wh..wh..opq"), std::string::npos);
  EXPECT_EQ(tar.find("overlay."), std::string::npos) << "overlay xattrs leaked into the layer";
  EXPECT_EQ(tar.find("keep/a"), std::string::npos) << "unchanged lower file in the layer";
  EXPECT_NE(tar.find("SCHILY.xattr.user.note"), std::string::npos);

  // Onto a plain copy of lower.
  testing::CopyTree(P("lower"), P("copy"));
  StringSource src(tar);
  auto r = ApplyLayer(&src, P("copy"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->diff_id, d->diff_id);
  EXPECT_EQ(testing::DiffTreesText(want, Snapshot(P("copy"))), "");

  // Onto an overlay mount of lower: deleting through it makes kernel whiteouts.
  MountOverlay(Overlay(P("lower"), P("upper2"), P("work2")), P("merged2"));
  StringSource src2(tar);
  auto r2 = ApplyLayer(&src2, P("merged2"));
  ASSERT_TRUE(r2.ok()) << r2.status();
  EXPECT_EQ(testing::DiffTreesText(want, Snapshot(P("merged2"))), "");
  mounted_.clear();
  // And diffing that upperdir again gives a layer that applies to the same tree.
  StringSink again;
  auto d2 = DiffUpperDir(P("upper2"), o, &again);
  ASSERT_TRUE(d2.ok()) << d2.status();
  EXPECT_NE(again.data().find(".wh.gone-file"), std::string::npos);
}

TEST_F(OverlayDiffTest, DiffMountsUsesTheUpperDirOrComparesTrees) {
  base::Mount m = Overlay(P("lower"), P("upper"), P("work"));
  MountOverlay(m, P("merged"));
  ChangeThroughMount(P("merged"));
  testing::Tree want = Snapshot(P("merged"));
  mounted_.clear();
  DiffOptions o;
  o.encoder.compression = Compression::kZstd;
  std::vector<base::Mount> lower = {base::Mount{"bind", P("lower"), {"rbind"}}};

  StringSink fast;
  auto d1 = DiffMounts(lower, {m}, o, &fast);
  ASSERT_TRUE(d1.ok()) << d1.status();
  StringSink direct;
  auto d0 = DiffUpperDir(P("upper"), o, &direct);
  ASSERT_TRUE(d0.ok()) << d0.status();
  EXPECT_EQ(d1->diff_id, d0->diff_id) << "overlay fast path not taken";

  // A bind of the merged result: the two bind sources are compared as trees.
  MountOverlay(m, P("merged"));
  StringSink slow;
  auto d2 = DiffMounts(lower, {base::Mount{"bind", P("merged"), {"rbind"}}}, o, &slow);
  ASSERT_TRUE(d2.ok()) << d2.status();
  mounted_.clear();
  // An overlay whose lowerdirs are not what `lower` shows: both get mounted read-only.
  MakeDir(P("lowercopy"));
  testing::CopyTree(P("lower"), P("lowercopy"));
  StringSink mounted;
  auto d3 = DiffMounts({base::Mount{"bind", P("lowercopy"), {"rbind"}}}, {m}, o, &mounted);
  ASSERT_TRUE(d3.ok()) << d3.status();
  EXPECT_NE(d3->diff_id, d0->diff_id) << "expected a tree comparison, not the upperdir";
  int i = 0;
  for (const std::string* blob : {&fast.data(), &slow.data(), &mounted.data()}) {
    std::string target = P("target" + std::to_string(i++));
    MakeDir(target);
    testing::CopyTree(P("lower"), target);
    StringSource src(*blob);
    auto r = ApplyLayer(&src, target);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(testing::DiffTreesText(want, Snapshot(target)), "") << "layer " << i;
  }
  // Nothing stays mounted under the differ's temp dirs.
  EXPECT_EQ(testing::Shell("grep -q kiln-diff- /proc/self/mountinfo"), 1);
}

}  // namespace
}  // namespace kiln::snapshotter

namespace kiln::snapshotter {
namespace {

using testing::MakeDir;
using testing::StringSink;
using testing::WriteFile;

// The whiteout forms overlay may leave in an upperdir, made by hand: a 0/0 char device, a
// zero-size file with the overlay.whiteout xattr, an opaque dir; and a redirect, which Kiln
// does not support.
TEST(UpperDirFormsTest, DeviceAndXattrWhiteoutsAndOpaqueDirs) {
  auto t = base::TempDir::Create("kiln-layers-forms-");
  ASSERT_TRUE(t.ok()) << t.status();
  std::string u = t->path() + "/upper";
  MakeDir(u);
  ASSERT_EQ(::mknod((u + "/dev-whiteout").c_str(), S_IFCHR | 0, makedev(0, 0)), 0)
      << "mknod 0/0 whiteout: " << strerror(errno);
  WriteFile(u + "/xattr-whiteout", "");
  std::string prefix = base::InUserNamespace() ? "user." : "trusted.";
  testing::SetXattr(u + "/xattr-whiteout", prefix + "overlay.whiteout", "y");
  MakeDir(u + "/opaque");
  testing::SetXattr(u + "/opaque", prefix + "overlay.opaque", "y");
  testing::SetXattr(u + "/opaque", prefix + "overlay.origin", "junk");
  WriteFile(u + "/opaque/kept", "k");
  StringSink sink;
  DiffOptions o;
  o.encoder.compression = Compression::kNone;
  auto d = DiffUpperDir(u, o, &sink);
  ASSERT_TRUE(d.ok()) << d.status();
  const std::string& tar = sink.data();
  EXPECT_NE(tar.find(".wh.dev-whiteout"), std::string::npos);
  EXPECT_NE(tar.find(".wh.xattr-whiteout"), std::string::npos);
  EXPECT_NE(tar.find("opaque/.wh..wh..opq"), std::string::npos);
  EXPECT_LT(tar.find("opaque/.wh..wh..opq"), tar.find("opaque/kept"));
  EXPECT_EQ(tar.find("overlay."), std::string::npos);

  testing::SetXattr(u + "/opaque", prefix + "overlay.redirect", "/elsewhere");
  StringSink sink2;
  auto d2 = DiffUpperDir(u, o, &sink2);
  ASSERT_FALSE(d2.ok());
  EXPECT_EQ(d2.status().code(), absl::StatusCode::kFailedPrecondition) << d2.status();
}

}  // namespace
}  // namespace kiln::snapshotter
