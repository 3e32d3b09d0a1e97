// OCI/Docker manifest, index and image config JSON: parsing, round trips, platform choice.
#include "engine/oci/manifest.h"

#include "engine/oci/image.h"
#include "engine/oci/media_types.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kiln::engine::oci {
namespace {

using ::testing::HasSubstr;

base::Digest D(char c) { return *base::Digest::Parse("sha256:" + std::string(64, c)); }

TEST(ManifestTest, RoundTripsAllFields) {
  Manifest m;
  m.media_type = std::string(kMediaTypeOciManifest);
  m.config = {std::string(kMediaTypeOciConfig), D('a'), 1234};
  m.layers.push_back({std::string(kMediaTypeOciLayerGzip),
                      D('b'),
                      99,
                      {"https://x/y"},
                      {{"k", "v"}},
                      std::nullopt});
  m.layers.push_back({std::string(kMediaTypeOciLayerZstd), D('c'), 7});
  m.annotations["org.opencontainers.image.created"] = "2024-01-01T00:00:00Z";
  m.subject = Descriptor{std::string(kMediaTypeOciManifest), D('d'), 5};
  std::string json = SerializeManifest(m);
  auto back = ParseManifest(json);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, m);
  EXPECT_EQ(SerializeManifest(*back), json) << "serialization must be stable";
  EXPECT_THAT(json, HasSubstr("\"schemaVersion\":2"));
}

TEST(ManifestTest, ParsesDockerSchema2) {
  std::string json = R"({
    "schemaVersion": 2,
    "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
    "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 7023,
               "digest": "sha256:)" +
                     std::string(64, '1') + R"("},
    "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                "size": 32654, "digest": "sha256:)" +
                     std::string(64, '2') + R"("}]})";
  auto m = ParseManifest(json);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->media_type, kMediaTypeDockerManifest);
  EXPECT_TRUE(IsConfigMediaType(m->config.media_type));
  ASSERT_EQ(m->layers.size(), 1u);
  EXPECT_TRUE(IsLayerMediaType(m->layers[0].media_type));
  EXPECT_EQ(m->layers[0].size, 32654);
  EXPECT_EQ(SniffMediaType(json), kMediaTypeDockerManifest);
}

TEST(ManifestTest, RejectsMalformedDocumentsWithReasons) {
  const std::pair<std::string, std::string> bad[] = {
      {"not json", "not valid JSON"},
      {"[]", "expected a JSON object"},
      {R"({"schemaVersion":1,"config":{},"layers":[]})", "schemaVersion 1 is not supported"},
      {R"({"schemaVersion":2,"layers":[]})", "missing \"config\""},
      {R"({"schemaVersion":2,"config":{"mediaType":"x","size":1,"digest":"sha256:zz"},"layers":[]})",
       "config"},
      {R"({"schemaVersion":2,"config":{"mediaType":"x","size":"1","digest":"sha256:)" +
           std::string(64, 'a') + R"("},"layers":[]})",
       "\"size\" must be an integer"},
      {R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","config":{},"layers":[]})",
       "is not an image manifest"},
  };
  for (const auto& [json, why] : bad) {
    auto m = ParseManifest(json, "manifest X");
    ASSERT_FALSE(m.ok()) << json;
    EXPECT_EQ(m.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(m.status().message()), HasSubstr(why)) << json;
    EXPECT_THAT(std::string(m.status().message()), HasSubstr("manifest X")) << json;
  }
}

TEST(IndexTest, RoundTripsWithPlatforms) {
  Index index;
  index.media_type = std::string(kMediaTypeOciIndex);
  Descriptor amd{std::string(kMediaTypeOciManifest), D('a'), 10};
  amd.platform = Platform{"amd64", "linux"};
  Descriptor arm{std::string(kMediaTypeOciManifest), D('b'), 11};
  arm.platform = Platform{"arm64", "linux", "v8"};
  arm.platform->os_features = {"f"};
  arm.annotations[std::string(kAnnotationRefName)] = "1.0";
  index.manifests = {amd, arm};
  std::string json = SerializeIndex(index);
  auto back = ParseIndex(json);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, index);
  EXPECT_EQ(SniffMediaType(json), kMediaTypeOciIndex);
  EXPECT_FALSE(ParseIndex(R"({"schemaVersion":2})").ok());
}

TEST(IndexTest, SelectsLinuxAmd64OrListsWhatIsThere) {
  Index index;
  Descriptor arm{std::string(kMediaTypeOciManifest), D('b'), 11};
  arm.platform = Platform{"arm64", "linux", "v8"};
  Descriptor s390{std::string(kMediaTypeDockerManifest), D('c'), 12};
  s390.platform = Platform{"s390x", "linux"};
  Descriptor amd{std::string(kMediaTypeOciManifest), D('a'), 10};
  amd.platform = Platform{"amd64", "linux"};
  index.manifests = {arm, s390, amd};
  auto chosen = SelectPlatform(index, Platform::Default());
  ASSERT_TRUE(chosen.ok()) << chosen.status();
  EXPECT_EQ(chosen->digest, D('a'));
  auto arm_pick = SelectPlatform(index, *Platform::Parse("linux/arm64"));
  ASSERT_TRUE(arm_pick.ok());
  EXPECT_EQ(arm_pick->digest, D('b'));

  index.manifests = {arm, s390};
  auto missing = SelectPlatform(index, Platform::Default());
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(missing.status().message()),
              HasSubstr("linux/amd64: the index has no manifest for it; platforms present: "
                        "linux/arm64/v8, linux/s390x"));
}

TEST(PlatformTest, ParsesAndRejects) {
  auto p = Platform::Parse("linux/arm64/v8");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->variant, "v8");
  EXPECT_EQ(p->str(), "linux/arm64/v8");
  EXPECT_FALSE(Platform::Parse("linux").ok());
  EXPECT_FALSE(Platform::Parse("linux//").ok());
  EXPECT_FALSE(Platform::Parse("a/b/c/d").ok());
}

TEST(ImageTest, RoundTripsConfigDocument) {
  Image img;
  img.created = "2024-01-02T03:04:05Z";
  img.author = "kiln";
  img.config.env = {"PATH=/bin", "A=b"};
  img.config.entrypoint = std::vector<std::string>{"/app"};
  img.config.working_dir = "/w";
  img.config.user = "65534:65534";
  img.config.exposed_ports = {"8080/tcp"};
  img.diff_ids = {D('1'), D('2')};
  img.history = {{"2024-01-02T03:04:05Z", "RUN x", "", "", false}, {"", "ENV A=b", "", "c", true}};
  std::string json = SerializeImage(img);
  auto back = ParseImage(json);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, img);
  EXPECT_EQ(back->platform().str(), "linux/amd64");
  EXPECT_THAT(json, HasSubstr(R"("rootfs":{"diff_ids":[)"));
  EXPECT_THAT(json, HasSubstr(R"("empty_layer":true)"));
}

TEST(ImageTest, RejectsBadRootfs) {
  auto no_rootfs = ParseImage(R"({"architecture":"amd64","os":"linux"})");
  ASSERT_FALSE(no_rootfs.ok());
  EXPECT_THAT(std::string(no_rootfs.status().message()), HasSubstr("rootfs"));
  auto bad_type = ParseImage(R"({"rootfs":{"type":"tree","diff_ids":[]}})");
  ASSERT_FALSE(bad_type.ok());
  EXPECT_THAT(std::string(bad_type.status().message()), HasSubstr("'tree' is not \"layers\""));
  auto bad_id = ParseImage(R"({"rootfs":{"type":"layers","diff_ids":["sha256:x"]}})");
  ASSERT_FALSE(bad_id.ok());
  auto bad_config = ParseImage(R"({"rootfs":{"type":"layers"},"config":{"Env":"x"}})");
  ASSERT_FALSE(bad_config.ok());
}

}  // namespace
}  // namespace kiln::engine::oci
