// Layer compression per export: the image store keeps new layers as uncompressed tars (no CPU
// spent compressing layers that never leave the machine), while oci/docker exports get gzip
// (or what compression= asks) and never inherit the store's uncompressed blobs.
#include "nlohmann/json.hpp"
#include "tests/integration/engine_fixture.h"

namespace kiln::testing {
namespace {


constexpr char kTar[] = "application/vnd.oci.image.layer.v1.tar";
constexpr char kGzip[] = "application/vnd.oci.image.layer.v1.tar+gzip";
constexpr char kZstd[] = "application/vnd.oci.image.layer.v1.tar+zstd";

class ExportCompressionTest : public EngineTest {
 protected:
  std::string Blob(const std::string& digest) {
    std::string hex = digest.substr(digest.find(':') + 1);
    return ReadFile(root_->path() + "/state/content/blobs/sha256/" + hex);
  }
  std::string LayoutBlob(const std::string& dir, const std::string& digest) {
    return ReadFile(dir + "/blobs/sha256/" + digest.substr(digest.find(':') + 1));
  }
  // Media types of the manifest's layers, bottom first.
  static std::vector<std::string> LayerTypes(const std::string& manifest_json) {
    std::vector<std::string> out;
    nlohmann::json m = nlohmann::json::parse(manifest_json, nullptr, false);
    if (!m.is_object()) return out;
    for (const auto& l : m["layers"]) out.push_back(l.value("mediaType", ""));
    return out;
  }
  std::string Context(const std::string& tag) {
    auto dir = base::TempDir::Create("kiln-e2e-ctx-");
    EXPECT_TRUE(dir.ok());
    std::string path = dir->path();
    dirs_.push_back(std::move(*dir));
    WriteFile(path + "/Dockerfile",
              "FROM busybox:1.35\nRUN echo " + tag + " > /tag && head -c 4096 /dev/urandom > /r\n");
    return path;
  }
  std::vector<base::TempDir> dirs_;
};

TEST_F(ExportCompressionTest, ImageStoreLayersAreUncompressedAndArchivesStillGetGzip) {
  std::string ctx = Context("store-then-oci");
  auto req = Request(ctx);
  req.exports = {engine::ImageOutput{{"e2e/compression:1"}}};
  auto r = engine_->Build(req, nullptr, nullptr);
  ASSERT_TRUE(r.ok()) << r.status();
  std::vector<std::string> types = LayerTypes(Blob(r->manifest_digest.str()));
  ASSERT_EQ(types.size(), 2u) << "busybox's layer and the RUN's";
  EXPECT_EQ(types[1], kTar) << "the image store's new layer should be an uncompressed tar";
  EXPECT_EQ(types[0], kGzip) << "the base image's original blob is reused as it is";
  int code = -1;
  std::string out = Run("e2e/compression:1", {"cat", "/tag"}, &code);
  EXPECT_EQ(code, 0);
  EXPECT_EQ(out, "store-then-oci\n");

  // The same (cached) build exported as an OCI layout gets a gzip layer, not the store's tar.
  auto dest = base::TempDir::Create("kiln-e2e-out-");
  ASSERT_TRUE(dest.ok());
  req.exports = {engine::OciLayoutOutput{dest->path() + "/layout"}};
  auto r2 = engine_->Build(req, nullptr, nullptr);
  ASSERT_TRUE(r2.ok()) << r2.status();
  types = LayerTypes(LayoutBlob(dest->path() + "/layout", r2->manifest_digest.str()));
  ASSERT_EQ(types.size(), 2u);
  EXPECT_EQ(types[1], kGzip);
  EXPECT_EQ(types[0], kGzip);

  // Back to the store: any layer already made is reused, so no new blob is written.
  req.exports = {engine::ImageOutput{{"e2e/compression:2"}}};
  auto r3 = engine_->Build(req, nullptr, nullptr);
  ASSERT_TRUE(r3.ok()) << r3.status();
  types = LayerTypes(Blob(r3->manifest_digest.str()));
  ASSERT_EQ(types.size(), 2u);
  EXPECT_TRUE(types[1] == kTar || types[1] == kGzip) << types[1];
}

TEST_F(ExportCompressionTest, ExplicitCompressionIsHonouredAndBadValuesAreRejected) {
  std::string ctx = Context("zstd");
  auto req = Request(ctx);
  req.exports = {engine::ImageOutput{{"e2e/compression:zstd"}, engine::OutputCompression::kZstd}};
  auto r = engine_->Build(req, nullptr, nullptr);
  ASSERT_TRUE(r.ok()) << r.status();
  std::vector<std::string> types = LayerTypes(Blob(r->manifest_digest.str()));
  ASSERT_EQ(types.size(), 2u);
  EXPECT_EQ(types[1], kZstd);

  // A bad compression= cannot reach the engine: the one parser (run by kilnd before the
  // build) rejects it.
  auto bad = engine::ParseOutput(
      engine::ExportSpec{"image", {{"name", "e2e/compression:bad"}, {"compression", "lz4"}}});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("compression=lz4"), std::string::npos) << bad.status();
  EXPECT_NE(bad.status().message().find("expected gzip, zstd or uncompressed"), std::string::npos)
      << bad.status();
}

}  // namespace
}  // namespace kiln::testing
