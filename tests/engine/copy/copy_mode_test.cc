#include "engine/copy/copy_mode.h"

#include <gtest/gtest.h>

namespace kiln::engine {
namespace {

mode_t Apply(const char* spec, mode_t mode, bool is_dir = false) {
  auto s = ChmodSpec::Parse(spec);
  EXPECT_TRUE(s.ok()) << spec << ": " << s.status();
  return s.ok() ? s->Apply(mode, is_dir) : 0xffff;
}

TEST(ChmodSpecTest, SymbolicModesFollowBsdSetmodeWithUmaskZero) {
  EXPECT_EQ(Apply("u+x", 0644), 0744u);
  EXPECT_EQ(Apply("+x", 0644), 0755u) << "no who: every class (umask 0)";
  EXPECT_EQ(Apply("g-w", 0664), 0644u);
  EXPECT_EQ(Apply("o-rwx", 0777), 0770u);
  EXPECT_EQ(Apply("u=rwx,go=rx", 0600), 0755u);
  EXPECT_EQ(Apply("a=r", 0777), 0444u);
  EXPECT_EQ(Apply("=", 0755), 0000u);
  EXPECT_EQ(Apply("u+x-w", 0644), 0544u) << "chained operators";
  EXPECT_EQ(Apply("ug+rw,o=", 0604), 0660u);
}

TEST(ChmodSpecTest, CopyingClasses) {
  EXPECT_EQ(Apply("g=u", 0640), 0660u);
  EXPECT_EQ(Apply("go=u-w", 0754), 0755u);
  EXPECT_EQ(Apply("o+g", 0650), 0655u);
  EXPECT_EQ(Apply("u-g", 0770), 0070u);
}

TEST(ChmodSpecTest, ConditionalExecute) {
  EXPECT_EQ(Apply("a+X", 0644), 0644u) << "no execute bit anywhere: unchanged";
  EXPECT_EQ(Apply("a+X", 0744), 0755u);
  EXPECT_EQ(Apply("a+X", 0700, true), 0711u) << "directories always get X";
  EXPECT_EQ(Apply("a=rw,+X", 0744), 0777u) << "X looks at the mode before the change";
  EXPECT_EQ(Apply("a=rwX", 0755), 0666u) << "BSD: X only counts with '+'";
}

TEST(ChmodSpecTest, SpecialBits) {
  EXPECT_EQ(Apply("u+s", 0755), 04755u);
  EXPECT_EQ(Apply("g+s", 0755), 02755u);
  EXPECT_EQ(Apply("+s", 0755), 06755u);
  EXPECT_EQ(Apply("o+s", 0755), 0755u) << "o alone ignores s";
  EXPECT_EQ(Apply("+t", 0755), 01755u);
  EXPECT_EQ(Apply("o+t", 0755), 0755u) << "o alone ignores t";
  EXPECT_EQ(Apply("u=rwx", 04755), 0755u) << "u= clears setuid";
  EXPECT_EQ(Apply("=rx", 01777), 01555u) << "= without who keeps the sticky bit";
}

TEST(ChmodSpecTest, OctalModesAreAbsolute) {
  EXPECT_EQ(Apply("755", 04600), 0755u);
  EXPECT_EQ(Apply("4755", 0), 04755u);
  EXPECT_EQ(Apply("0", 0777), 0u);
}

TEST(ChmodSpecTest, MalformedModesAreInvalidArgument) {
  for (const char* bad : {"", "u", "u+x,", "q+x", "u+q", "8", "077777", "u+x,,g+w", "rw", "u+x g"}) {
    auto s = ChmodSpec::Parse(bad);
    EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument) << "'" << bad << "'";
    if (!s.ok()) {
      EXPECT_NE(s.status().message().find("invalid --chmod"), std::string::npos);
    }
  }
}

}  // namespace
}  // namespace kiln::engine
