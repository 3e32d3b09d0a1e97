// Golden tests for every op's cache key (cache/cache_key.h, the one recipe). Each test feeds
// fixed inputs (a fixed op serialized by graph::SerializeOp, fixed content digests, fixed input
// keys) and checks the recorded hex digest. A failure here means a recipe, or the canonical
// op serialization it hashes, changed: every existing cache record becomes a miss. If that is
// intended, bump kCacheKeyVersion and record the new digests in the same commit.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "cache/cache_key.h"
#include "engine/graph/op.h"

namespace kiln::cache {
namespace {

namespace graph = ::kiln::engine::graph;

const char kPath[] = "PATH=/usr/local/bin:/usr/bin:/bin";

// The key of the base image every step below starts from.
CacheKey BaseImageKey() { return ImageSourceCacheKey(base::Digest::Of("manifest bytes")); }

graph::ExecOp MakeRun() {
  graph::ExecOp e;
  e.args = {"/bin/sh", "-c", "make"};
  e.env = {kPath};
  e.cwd = "/src";
  return e;
}

// A content digest as MountSource / HashSources report it.
std::string Content(std::string_view prefix, std::string_view bytes) {
  return std::string(prefix) + base::Digest::Of(bytes).str();
}

TEST(CacheKeyRecipeGoldenTest, ImageSource) {
  EXPECT_EQ(BaseImageKey().hex(),
            "b00d3ebc37028f61fceb904377890f4f213ebfffae26928e095723a3de6f63a8");
}

TEST(CacheKeyRecipeGoldenTest, Scratch) {
  EXPECT_EQ(ScratchCacheKey().hex(),
            "e21356deab08142d6d702632f0a729a2fe4a05ce6c09e5257c44f6831938926a");
}

TEST(CacheKeyRecipeGoldenTest, LocalContext) {
  graph::SourceOp s;
  s.kind = graph::SourceOp::Kind::kLocal;
  s.ref = "context";
  s.exclude_patterns = {"*.log"};
  EXPECT_EQ(LocalSourceCacheKey(graph::SerializeOp(s)).hex(),
            "edb628aa7e36d21b639873e6fd897fd1821bc949512a90e8416e02e27fc55426");
}

TEST(CacheKeyRecipeGoldenTest, Run) {
  EXPECT_EQ(ExecCacheKey(graph::SerializeOp(MakeRun()), {}, {BaseImageKey()}).hex(),
            "c1a4cda1f893f9f34174c42b0f4d042ad427648ee630121ddb5f691e389a0e0a");
}

TEST(CacheKeyRecipeGoldenTest, RunWithBindMount) {
  graph::ExecOp e = MakeRun();
  graph::ExecMount m;
  m.type = graph::ExecMount::Type::kBind;
  m.target = "/src";
  m.input = 1;
  m.source = "/";
  m.readonly = true;
  e.mounts.push_back(m);
  // Input 1 (the context) is read only by the bind mount: keyed by content, not by its key.
  CacheKey key = ExecCacheKey(graph::SerializeOp(e), {{0, Content("ctx:", "context files")}},
                              {BaseImageKey()});
  EXPECT_EQ(key.hex(), "f1948920b5a69700e09ee4c45f15a373bd07f422062b68744cf2ebf61a9cec96");
}

graph::FileAction MakeCopy(int src_input, std::vector<std::string> src, std::string dest) {
  graph::FileAction a;
  a.kind = graph::FileAction::Kind::kCopy;
  a.src_input = src_input;
  a.src_paths = std::move(src);
  a.path = std::move(dest);
  return a;
}

TEST(CacheKeyRecipeGoldenTest, CopyFromContext) {
  graph::FileOp f;
  f.actions.push_back(MakeCopy(1, {"/app"}, "/app/"));
  CacheKey key =
      FileCacheKey(graph::SerializeOp(f), BaseImageKey(), {{0, {Content("", "app tree")}}});
  EXPECT_EQ(key.hex(), "faa7076af66abd3c67ebc10faf2378d1e91003ecc05398404619853c7e725605");
}

TEST(CacheKeyRecipeGoldenTest, CopyFromStageWithChown) {
  graph::FileOp f;
  graph::FileAction a = MakeCopy(1, {"/out/bin", "/out/lib"}, "/usr/local/");
  a.chown = graph::Chown{"1000", "1000"};
  f.actions.push_back(a);
  // One part per source; the stage's own key is not in the recipe (early cutoff).
  CacheKey key = FileCacheKey(graph::SerializeOp(f), BaseImageKey(),
                              {{0, {Content("", "bin"), Content("", "lib")}}});
  EXPECT_EQ(key.hex(), "2f2601155b0326636bf1211a4b0848568f49bdbc807ce066fc7725b8a191a48c");
}

TEST(CacheKeyRecipeGoldenTest, AddLocalArchive) {
  graph::FileOp f;
  graph::FileAction a = MakeCopy(1, {"/rootfs.tar.gz"}, "/opt/");
  a.auto_extract = true;
  f.actions.push_back(a);
  CacheKey key =
      FileCacheKey(graph::SerializeOp(f), BaseImageKey(), {{0, {Content("", "archive bytes")}}});
  EXPECT_EQ(key.hex(), "26eebf892066dd959023bee47401c058b64c39116ee6747976a4ee5eb11b4d8e");
}

TEST(CacheKeyRecipeGoldenTest, BuilderEmptyOp) {
  EXPECT_EQ(CacheKeyBuilder("").Finish().hex(),
            "08c14ba853573e03ddbeae5e03bb20dd6d853fa437c1d7951f22620193244c3e");
}

TEST(CacheKeyRecipeGoldenTest, BuilderEveryFieldType) {
  CacheKey key = CacheKeyBuilder("every")
                     .String("s", "text")
                     .Bytes("b", std::string("\0\1\2", 3))
                     .Int("i", -2)
                     .Input(BaseImageKey())
                     .Digest("d", base::Digest::Of("d"))
                     .Xxh("x", base::Xxh128{0x0123456789abcdefULL, 0xfedcba9876543210ULL})
                     .Finish();
  EXPECT_EQ(key.hex(), "dc3f79603928a7e76090dcdf3da0b24734ee544eb631090cf62fd2f45b07c212");
}

// The recipe separates what it is fed: moving content between mounts, copies or parts, or
// from a mount to an input, gives another key.
TEST(CacheKeyRecipeTest, FieldsDoNotRunTogether) {
  std::string def = graph::SerializeOp(MakeRun());
  CacheKey a = base::Digest::Of("a");
  EXPECT_NE(ExecCacheKey(def, {{0, "x"}}, {a}), ExecCacheKey(def, {{1, "x"}}, {a}));
  EXPECT_NE(ExecCacheKey(def, {{0, "x"}}, {a}), ExecCacheKey(def + "x", {}, {a}));
  EXPECT_NE(ExecCacheKey(def, {}, {a}), ExecCacheKey(def, {}, {a, a}));
  EXPECT_NE(FileCacheKey(def, a, {{0, {"x", "y"}}}), FileCacheKey(def, a, {{0, {"xy"}}}));
  EXPECT_NE(FileCacheKey(def, a, {{0, {"x"}}, {1, {"y"}}}),
            FileCacheKey(def, a, {{0, {"x", "y"}}}));
  EXPECT_NE(FileCacheKey(def, a, {}), ExecCacheKey(def, {}, {a}));
  EXPECT_NE(LocalSourceCacheKey(""), ScratchCacheKey());
}

}  // namespace
}  // namespace kiln::cache
