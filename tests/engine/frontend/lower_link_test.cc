// COPY --link / ADD --link: recorded in the lowered FileAction (part of the definition),
// everything else about the copy identical to the same instruction without --link.
#include <string>

#include "engine/frontend/lower.h"
#include "gtest/gtest.h"
#include "tests/engine/frontend/fake_image_resolver.h"

namespace kiln::engine {
namespace {

using graph::FileAction;
using graph::FileOp;

// The copy actions of the final vertex of `df` (a FROM line plus one COPY/ADD).
std::vector<FileAction> FinalActions(const std::string& df, std::string* digest) {
  absl::StatusOr<LoweredBuild> b = Lower(df);
  EXPECT_TRUE(b.ok()) << b.status();
  if (!b.ok()) return {};
  const graph::Vertex& v = b->graph.vertex(b->final_vertex);
  *digest = v.digest.str();
  const auto* f = std::get_if<FileOp>(&v.op);
  EXPECT_NE(f, nullptr);
  return f == nullptr ? std::vector<FileAction>{} : f->actions;
}

void ExpectSameCopyExceptLink(const std::string& plain, const std::string& linked) {
  std::string d_plain, d_linked;
  std::vector<FileAction> a = FinalActions(plain, &d_plain);
  std::vector<FileAction> b = FinalActions(linked, &d_linked);
  ASSERT_EQ(a.size(), b.size()) << linked;
  ASSERT_FALSE(a.empty());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_FALSE(a[i].link) << plain;
    EXPECT_TRUE(b[i].link) << linked;
    FileAction unlinked = b[i];
    unlinked.link = false;
    // Same op once the flag is cleared: same serialization, so the same files are produced.
    EXPECT_EQ(graph::SerializeOp(FileOp{.actions = {unlinked}}),
              graph::SerializeOp(FileOp{.actions = {a[i]}}))
        << linked;
  }
  EXPECT_NE(d_plain, d_linked) << "--link is part of the definition";
  // Lowering is deterministic with the flag too.
  std::string again;
  (void)FinalActions(linked, &again);
  EXPECT_EQ(again, d_linked);
}

TEST(LowerLinkTest, CopyLinkIsRecorded) {
  ExpectSameCopyExceptLink("FROM busybox:1.35\nCOPY --chmod=600 a b /dst/\n",
                           "FROM busybox:1.35\nCOPY --link --chmod=600 a b /dst/\n");
  ExpectSameCopyExceptLink("FROM busybox:1.35\nCOPY --from=golang:1.19 /usr/bin/go /go\n",
                           "FROM busybox:1.35\nCOPY --link=true --from=golang:1.19 /usr/bin/go /go\n");
}

TEST(LowerLinkTest, AddLinkIsRecordedForLocalAndUrlSources) {
  ExpectSameCopyExceptLink("FROM busybox:1.35\nADD app.tar /opt/\n",
                           "FROM busybox:1.35\nADD --link app.tar /opt/\n");
  ExpectSameCopyExceptLink("FROM busybox:1.35\nADD https://example.com/f.tgz /dl/\n",
                           "FROM busybox:1.35\nADD --link https://example.com/f.tgz /dl/\n");
}

TEST(LowerLinkTest, LinkFalseIsAPlainCopy) {
  std::string d_plain, d_false;
  (void)FinalActions("FROM busybox:1.35\nCOPY a /a\n", &d_plain);
  std::vector<FileAction> a = FinalActions("FROM busybox:1.35\nCOPY --link=false a /a\n", &d_false);
  ASSERT_EQ(a.size(), 1u);
  EXPECT_FALSE(a[0].link);
  EXPECT_EQ(d_plain, d_false);
}

TEST(LowerLinkTest, SerializedOnlyWhenSet) {
  FileAction a;
  a.src_paths = {"/x"};
  a.path = "/y";
  const std::string plain = graph::SerializeOp(FileOp{.actions = {a}});
  EXPECT_EQ(plain.find("link "), std::string::npos) << plain;
  a.link = true;
  const std::string linked = graph::SerializeOp(FileOp{.actions = {a}});
  EXPECT_NE(linked.find("parents 1:0\nlink 1:1\nexcludes.n 1:0\n"), std::string::npos) << linked;
}

}  // namespace
}  // namespace kiln::engine
