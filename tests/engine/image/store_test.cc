// ImageStore table semantics, persistence and GC labels; StoreImageResolver results.
#include <thread>

#include "base/temp_dir.h"
#include "cache/fs_content_store.h"
#include "engine/image/image_store.h"
#include "engine/image/store_resolver.h"
#include "engine/oci/manifest.h"
#include "engine/oci/media_types.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/engine/image/test_util.h"
#include "tests/fakes/in_memory_content_store.h"

namespace kiln::engine::image {
namespace {

using test_util::MakeImage;
using test_util::MakeIndex;
using test_util::ReadFile;
using test_util::WriteFile;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto tmp = base::TempDir::Create("kiln-store-test-");
    ASSERT_TRUE(tmp.ok()) << tmp.status();
    tmp_ = std::move(*tmp);
    auto cs = cache::OpenFsContentStore(tmp_.path() + "/content");
    ASSERT_TRUE(cs.ok()) << cs.status();
    content_ = std::move(*cs);
    Reopen();
    scratch_ = tmp_.path() + "/scratch";
    ASSERT_EQ(::mkdir(scratch_.c_str(), 0755), 0);
  }

  void Reopen() {
    store_.reset();
    auto store = ImageStore::Open(tmp_.path() + "/images", content_.get());
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
  }

  std::vector<std::string> Refs() {
    auto list = store_->List();
    EXPECT_TRUE(list.ok()) << list.status();
    std::vector<std::string> out;
    for (const auto& r : *list) out.push_back(r.ref);
    return out;
  }

  base::TempDir tmp_;
  std::unique_ptr<cache::ContentStore> content_;
  std::unique_ptr<ImageStore> store_;
  std::string scratch_;
};

TEST_F(StoreTest, PutGetListRemoveWithNormalizedRefs) {
  oci::Descriptor a = MakeImage(*content_, scratch_, "a");
  oci::Descriptor b = MakeImage(*content_, scratch_, "b");
  ASSERT_TRUE(store_->Put("busybox", a).ok());
  ASSERT_TRUE(store_->Put("ghcr.io/o/r:1", b).ok());
  ASSERT_TRUE(store_->Put("docker.io/library/busybox:1.35", b).ok());
  EXPECT_THAT(Refs(), ElementsAre("docker.io/library/busybox:1.35",
                                  "docker.io/library/busybox:latest", "ghcr.io/o/r:1"));
  auto got = store_->Get("docker.io/library/busybox:latest");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->target.digest, a.digest);
  EXPECT_EQ(got->target.size, a.size);
  EXPECT_LE(got->created, absl::Now());
  EXPECT_GT(got->created, absl::Now() - absl::Minutes(5));

  // Re-pointing a ref replaces it.
  ASSERT_TRUE(store_->Put("busybox:latest", b).ok());
  EXPECT_EQ(store_->Get("busybox")->target.digest, b.digest);
  EXPECT_EQ(Refs().size(), 3u);

  ASSERT_TRUE(store_->Remove("busybox").ok());
  EXPECT_THAT(Refs(), ElementsAre("docker.io/library/busybox:1.35", "ghcr.io/o/r:1"));
  auto gone = store_->Get("busybox");
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(gone.status().message()),
              HasSubstr("image 'docker.io/library/busybox:latest' not found"));
  EXPECT_EQ(store_->Remove("busybox").code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->Put("Bad Ref", a).code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(StoreTest, PersistsAcrossReopen) {
  oci::Descriptor a = MakeImage(*content_, scratch_, "a");
  ASSERT_TRUE(store_->Put("x/y:1", a).ok());
  ASSERT_TRUE(store_->Put("x/y:2", a).ok());
  ASSERT_TRUE(store_->Remove("x/y:1").ok());
  auto before = store_->Get("x/y:2");
  ASSERT_TRUE(before.ok());
  Reopen();
  EXPECT_THAT(Refs(), ElementsAre("docker.io/x/y:2"));
  auto after = store_->Get("x/y:2");
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(after->target, before->target);
  EXPECT_EQ(absl::ToUnixSeconds(after->created), absl::ToUnixSeconds(before->created));
  // The table is an OCI index on disk; no temp files are left behind.
  std::string index = ReadFile(tmp_.path() + "/images/index.json");
  EXPECT_THAT(index, HasSubstr("\"org.opencontainers.image.ref.name\":\"docker.io/x/y:2\""));
  auto dir = test_util::RunTool({"ls", "-A", tmp_.path() + "/images"});
  EXPECT_EQ(dir.output, "index.json\nlock\n");
}

TEST_F(StoreTest, CorruptTableIsDataLoss) {
  oci::Descriptor a = MakeImage(*content_, scratch_, "a");
  ASSERT_TRUE(store_->Put("x:1", a).ok());
  WriteFile(tmp_.path() + "/images/index.json", "{\"schemaVersion\":2,\"manifests\":[");
  auto list = store_->List();
  ASSERT_FALSE(list.ok());
  EXPECT_EQ(list.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(list.status().message()), HasSubstr("images/index.json"));
}

TEST_F(StoreTest, MarkReachableWalksRefsToConfigAndLayersWithoutLabels) {
  oci::Descriptor a = MakeImage(*content_, scratch_, "a");
  oci::Descriptor gone = MakeImage(*content_, scratch_, "gone");
  ASSERT_TRUE(store_->Put("x:1", a).ok());
  ASSERT_TRUE(store_->Put("x:2", a).ok());
  ASSERT_TRUE(store_->Put("y:1", gone).ok());
  ASSERT_TRUE(store_->Remove("y:1").ok());
  auto man = oci::ParseManifest(*content_->ReadAll(a.digest));
  ASSERT_TRUE(man.ok());
  absl::flat_hash_set<base::Digest> live;
  ASSERT_TRUE(store_->MarkReachable(&live).ok());
  absl::flat_hash_set<base::Digest> want = {a.digest, man->config.digest, man->layers[0].digest};
  EXPECT_EQ(live, want) << "only what a stored ref reaches; the removed image is unmarked";
  auto info = content_->Info(a.digest);
  ASSERT_TRUE(info.ok());
  EXPECT_TRUE(info->labels.empty()) << "the store writes no GC labels";
  EXPECT_TRUE(content_->Has(gone.digest)) << "Remove leaves blobs for GC";
}

TEST_F(StoreTest, VersionMovesOnlyWhenThePutChangesTheTable) {
  oci::Descriptor a = MakeImage(*content_, scratch_, "a");
  oci::Descriptor b = MakeImage(*content_, scratch_, "b");
  uint64_t v0 = store_->version();
  ASSERT_TRUE(store_->Put("x:1", a).ok());
  uint64_t v1 = store_->version();
  EXPECT_GT(v1, v0);
  ASSERT_TRUE(store_->Put("x:1", a).ok());
  EXPECT_EQ(store_->version(), v1) << "a no-op re-store adds no root";
  ASSERT_TRUE(store_->Put("x:1", b).ok());
  EXPECT_GT(store_->version(), v1);
}

TEST_F(StoreTest, MarkReachableSkipsABrokenImage) {
  oci::Descriptor a = MakeImage(*content_, scratch_, "a");
  auto junk = content_->Put("not json");
  ASSERT_TRUE(junk.ok());
  oci::Descriptor broken{std::string(oci::kMediaTypeOciManifest), junk->digest, junk->size};
  ASSERT_TRUE(store_->Put("broken:1", broken).ok());
  ASSERT_TRUE(store_->Put("x:1", a).ok());
  absl::flat_hash_set<base::Digest> live;
  ASSERT_TRUE(store_->MarkReachable(&live).ok());
  EXPECT_TRUE(live.contains(junk->digest));
  EXPECT_TRUE(live.contains(a.digest));
  EXPECT_EQ(live.size(), 4u) << "the broken manifest itself plus a's manifest, config, layer";
}

TEST_F(StoreTest, PutOfMissingBlobIsNotFound) {
  oci::Descriptor ghost{std::string(oci::kMediaTypeOciManifest),
                        base::Digest::Of("no such manifest"), 16};
  auto st = store_->Put("ghost:1", ghost);
  EXPECT_EQ(st.code(), absl::StatusCode::kNotFound) << st;
  EXPECT_TRUE(Refs().empty());
}

TEST_F(StoreTest, ConcurrentPutsAllLand) {
  oci::Descriptor a = MakeImage(*content_, scratch_, "a");
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 10; ++i) {
        EXPECT_TRUE(store_->Put("t" + std::to_string(t) + ":" + std::to_string(i), a).ok());
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(Refs().size(), 40u);
}

TEST_F(StoreTest, ResolverNormalizesAndReturnsConfig) {
  oci::Descriptor a = MakeImage(*content_, scratch_, "hi");
  ASSERT_TRUE(store_->Put("busybox:1.35", a).ok());
  StoreImageResolver resolver(store_.get());
  auto r = resolver.Resolve("busybox:1.35", "");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->ref, "docker.io/library/busybox:1.35");
  EXPECT_EQ(r->manifest_digest, a.digest);
  auto man = oci::ParseManifest(*content_->ReadAll(a.digest));
  EXPECT_EQ(r->config_digest, man->config.digest);
  EXPECT_THAT(r->config.env, ElementsAre("PATH=/bin", "GREETING=hi"));
  EXPECT_EQ(r->config.working_dir, "/work");

  auto same = resolver.Resolve("docker.io/library/busybox:1.35", "linux/amd64");
  ASSERT_TRUE(same.ok());
  EXPECT_EQ(same->manifest_digest, a.digest);

  auto by_digest = resolver.Resolve("busybox@" + a.digest.str(), "");
  ASSERT_TRUE(by_digest.ok()) << by_digest.status();
  EXPECT_EQ(by_digest->manifest_digest, a.digest);

  auto arm = resolver.Resolve("busybox:1.35", "linux/arm64");
  ASSERT_FALSE(arm.ok());
  EXPECT_THAT(std::string(arm.status().message()),
              HasSubstr("is for linux/amd64, not linux/arm64"));
  EXPECT_EQ(resolver.Resolve("busybox:1.35", "linux").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(StoreTest, ResolverNotFoundTellsHowToImport) {
  StoreImageResolver resolver(store_.get());
  auto r = resolver.Resolve("golang:1.19", "");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound);
  std::string msg(r.status().message());
  EXPECT_THAT(msg, HasSubstr("docker.io/library/golang:1.19 is not in the local image store"));
  EXPECT_THAT(msg, HasSubstr("kilnctl image import PATH --name golang:1.19"));
  EXPECT_THAT(msg, HasSubstr("tools/images/build.sh"));
  auto missing_digest = resolver.Resolve("x@sha256:" + std::string(64, '0'), "");
  EXPECT_EQ(missing_digest.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(resolver.Resolve("UPPER", "").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(StoreTest, ResolverPicksPlatformFromStoredIndex) {
  oci::Descriptor arm = MakeImage(*content_, scratch_, "arm", true, "arm64");
  oci::Descriptor amd = MakeImage(*content_, scratch_, "amd", true, "amd64");
  oci::Descriptor index = MakeIndex(*content_, {arm, amd});
  ASSERT_TRUE(store_->Put("multi:1", index).ok());
  StoreImageResolver resolver(store_.get());
  auto def = resolver.Resolve("multi:1", "");
  ASSERT_TRUE(def.ok()) << def.status();
  EXPECT_EQ(def->manifest_digest, amd.digest);
  EXPECT_THAT(def->config.env, ElementsAre("PATH=/bin", "GREETING=amd"));
  auto a = resolver.Resolve("multi:1", "linux/arm64");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->manifest_digest, arm.digest);
  auto by_child_digest = resolver.Resolve("multi@" + arm.digest.str(), "linux/arm64");
  ASSERT_TRUE(by_child_digest.ok()) << by_child_digest.status();
  auto none = resolver.Resolve("multi:1", "linux/riscv64");
  ASSERT_FALSE(none.ok());
  EXPECT_THAT(std::string(none.status().message()),
              HasSubstr("platforms present: linux/arm64, linux/amd64"));
}

TEST_F(StoreTest, ResolverDetectsCorruptBlobs) {
  fakes::InMemoryContentStore mem;
  auto store = ImageStore::Open(tmp_.path() + "/mem-images", &mem);
  ASSERT_TRUE(store.ok());
  oci::Descriptor a = MakeImage(mem, scratch_, "c");
  ASSERT_TRUE((*store)->Put("c:1", a).ok());
  auto man = oci::ParseManifest(*mem.ReadAll(a.digest));
  mem.CorruptForTest(man->config.digest);
  StoreImageResolver resolver(store->get());
  auto r = resolver.Resolve("c:1", "");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss) << r.status();
}

}  // namespace
}  // namespace kiln::engine::image
