#include "base/mount.h"

#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "base/temp_dir.h"
#include "base/userns.h"

namespace kiln::base {
namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void WriteFile(const std::string& path, const std::string& content) {
  std::ofstream(path) << content;
}

bool IsMounted(const std::string& target) {
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::string id, parent, devs, root, mp;
    ls >> id >> parent >> devs >> root >> mp;
    if (mp == target) return true;
  }
  return false;
}

class MountTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto d = TempDir::Create("kiln-mount-test-");
    ASSERT_TRUE(d.ok()) << d.status();
    dir_ = std::move(*d);
  }
  std::string P(const std::string& rel) { return dir_.path() + "/" + rel; }
  void Mkdir(const std::string& rel) { ASSERT_EQ(::mkdir(P(rel).c_str(), 0755), 0) << rel; }

  std::vector<std::string> OverlayOpts() {
    std::vector<std::string> o;
    if (InUserNamespace()) o.push_back("userxattr");
    return o;
  }
  TempDir dir_;
};

TEST_F(MountTest, TmpfsMountsAndScopedMountUnmounts) {
  Mkdir("t");
  {
    ASSERT_TRUE(MountAt(Mount{"tmpfs", "tmpfs", {"size=1m", "nosuid"}}, P("t")).ok());
    ScopedMount guard(P("t"));
    EXPECT_TRUE(IsMounted(P("t")));
    WriteFile(P("t/x"), "hello");
    EXPECT_EQ(ReadFile(P("t/x")), "hello");
  }
  EXPECT_FALSE(IsMounted(P("t")));
  struct stat st;
  EXPECT_NE(::stat(P("t/x").c_str(), &st), 0) << "file should have lived on the tmpfs";
}

TEST_F(MountTest, OverlayStacksLowersTopMostFirst) {
  for (const char* d : {"l1", "l2", "u", "w", "m"}) Mkdir(d);
  WriteFile(P("l1/a"), "top");
  WriteFile(P("l2/a"), "bottom");
  WriteFile(P("l2/b"), "only-bottom");
  Mount m{"overlay", "overlay", OverlayOpts()};
  m.options.push_back("lowerdir+=" + P("l1"));
  m.options.push_back("lowerdir+=" + P("l2"));
  m.options.push_back("upperdir=" + P("u"));
  m.options.push_back("workdir=" + P("w"));
  absl::Status s = MountAt(m, P("m"));
  ASSERT_TRUE(s.ok()) << s;
  ScopedMount guard(P("m"));
  EXPECT_EQ(ReadFile(P("m/a")), "top");
  EXPECT_EQ(ReadFile(P("m/b")), "only-bottom");
  WriteFile(P("m/c"), "new");
  EXPECT_EQ(ReadFile(P("u/c")), "new");
}

TEST_F(MountTest, OverlayWithManyLongPathsBeyondTheLegacyPageLimit) {
  // 300 lower dirs with long names: ~30 KB of paths, far past mount(2)'s 4,095-byte limit.
  std::string base_name(80, 'x');
  Mount m{"overlay", "overlay", OverlayOpts()};
  for (int i = 0; i < 300; ++i) {
    std::string rel = absl::StrCat(base_name, "_", i);
    Mkdir(rel);
    WriteFile(P(rel + "/f" + std::to_string(i)), std::to_string(i));
    m.options.push_back("lowerdir+=" + P(rel));
  }
  Mkdir("m");
  absl::Status s = MountAt(m, P("m"));  // read-only overlay: lowers only
  ASSERT_TRUE(s.ok()) << s;
  ScopedMount guard(P("m"));
  EXPECT_EQ(ReadFile(P("m/f0")), "0");
  EXPECT_EQ(ReadFile(P("m/f299")), "299");
}

TEST_F(MountTest, TooManyLowerDirsIsAnError) {
  Mount m{"overlay", "overlay", {}};
  for (int i = 0; i <= kMaxOverlayLowerDirs; ++i) m.options.push_back("lowerdir+=/nonexistent");
  Mkdir("m");
  absl::Status s = MountAt(m, P("m"));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_FALSE(IsMounted(P("m")));
}

TEST_F(MountTest, MissingLowerDirReportsWhichOne) {
  Mkdir("m");
  Mount m{"overlay", "overlay", {"lowerdir+=" + P("does-not-exist")}};
  absl::Status s = MountAt(m, P("m"));
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("does-not-exist"), absl::string_view::npos) << s;
  EXPECT_FALSE(IsMounted(P("m")));
}

TEST_F(MountTest, ReadOnlyBind) {
  Mkdir("src");
  Mkdir("dst");
  WriteFile(P("src/f"), "data");
  ASSERT_TRUE(MountAt(Mount{"bind", P("src"), {"rbind", "ro"}}, P("dst")).ok());
  ScopedMount guard(P("dst"));
  EXPECT_EQ(ReadFile(P("dst/f")), "data");
  std::ofstream out(P("dst/g"));
  EXPECT_FALSE(out.good()) << "write through a read-only bind succeeded";
}

TEST(UserNsTest, RootlessRunsInsideAUserNamespace) {
  // The rootless run of this binary (as kiln-test) enters a namespace in main(); the root
  // run does not.
  if (::getuid() == 0 && !InUserNamespace()) {
    EXPECT_EQ(MappedUidCount(), 4294967295ull);
  } else {
    EXPECT_TRUE(InUserNamespace());
    EXPECT_GE(MappedUidCount(), 1u);
  }
}

TEST(UserNsTest, LookupSubordinateRange) {
  auto dir = TempDir::Create();
  ASSERT_TRUE(dir.ok());
  std::string f = dir->path() + "/subuid";
  WriteFile(f, "alice:100000:65536\n1002:200000:1000\nbad line\nbob:5:0\n");
  auto a = LookupSubordinateRange(f, "alice", 1001);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->start, 100000u);
  EXPECT_EQ(a->count, 65536u);
  auto b = LookupSubordinateRange(f, "carol", 1002);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->start, 200000u);
  EXPECT_EQ(LookupSubordinateRange(f, "bob", 7).status().code(), absl::StatusCode::kNotFound);
}

TEST(OverlayOptionTest, LowerDirsOfBothFormsTopMostFirstAndSingleValues) {
  Mount m{"overlay", "overlay",
          {"lowerdir=/a:/b", "lowerdir+=/c", "upperdir=/u", "workdir=/w", "userxattr"}};
  EXPECT_EQ(OverlayOption(m, "lowerdir"), (std::vector<std::string>{"/a", "/b", "/c"}));
  EXPECT_EQ(OverlayOption(m, "upperdir"), (std::vector<std::string>{"/u"}));
  EXPECT_TRUE(OverlayOption(m, "upper").empty());
  EXPECT_TRUE(OverlayOption(Mount{"bind", "/x", {"ro"}}, "lowerdir").empty());
}

}  // namespace
}  // namespace kiln::base
