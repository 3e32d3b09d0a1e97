// Import of OCI layouts, oci-archives and docker-archives into the image store, with the
// archives made here by Kiln's writers and by the `tar` CLI.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

#include "base/temp_dir.h"
#include "cache/fs_content_store.h"
#include "engine/image/image_store.h"
#include "engine/oci/image.h"
#include "engine/oci/layout_writer.h"
#include "engine/oci/manifest.h"
#include "engine/oci/media_types.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/engine/image/test_util.h"

namespace kiln::engine::image {
namespace {

using test_util::MakeImage;
using test_util::MakeIndex;
using test_util::ReadFile;
using test_util::RunTool;
using test_util::WriteFile;
using ::testing::HasSubstr;

class ImportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto tmp = base::TempDir::Create("kiln-import-test-");
    ASSERT_TRUE(tmp.ok()) << tmp.status();
    tmp_ = std::move(*tmp);
    auto src = cache::OpenFsContentStore(tmp_.path() + "/src");
    ASSERT_TRUE(src.ok()) << src.status();
    src_ = std::move(*src);
    auto dst = cache::OpenFsContentStore(tmp_.path() + "/dst");
    ASSERT_TRUE(dst.ok()) << dst.status();
    dst_ = std::move(*dst);
    auto store = ImageStore::Open(tmp_.path() + "/images", dst_.get());
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
    scratch_ = tmp_.path() + "/scratch";
    ASSERT_EQ(::mkdir(scratch_.c_str(), 0755), 0);
  }

  std::string Path(const std::string& name) { return tmp_.path() + "/" + name; }

  int BlobCount(cache::ContentStore& s) {
    int n = 0;
    EXPECT_TRUE(s.Walk([&](const cache::BlobInfo&) { ++n; }).ok());
    return n;
  }

  // Writes a tar of `dir`'s entries (sorted) to `out` with the tar CLI.
  void TarDir(const std::string& dir, const std::string& out) {
    auto r = RunTool({"tar", "--sort=name", "--owner=0", "--group=0", "--numeric-owner", "-C", dir,
                      "-cf", out, "."});
    ASSERT_EQ(r.exit_code, 0) << r.output;
  }

  // A classic `docker save` directory: <hex>.json config, <id>/layer.tar uncompressed.
  void MakeClassicDockerSave(const std::string& dir, const std::string& text,
                             const std::string& repo_tags_json) {
    oci::Descriptor m = MakeImage(*src_, scratch_, text, /*gzip=*/false);
    auto man = oci::ParseManifest(*src_->ReadAll(m.digest));
    ASSERT_TRUE(man.ok());
    ASSERT_EQ(::mkdir(dir.c_str(), 0755), 0);
    std::string config = *src_->ReadAll(man->config.digest);
    WriteFile(dir + "/" + man->config.digest.hex() + ".json", config);
    ASSERT_EQ(::mkdir((dir + "/abc123").c_str(), 0755), 0);
    WriteFile(dir + "/abc123/layer.tar", *src_->ReadAll(man->layers[0].digest));
    WriteFile(dir + "/abc123/VERSION", "1.0");
    WriteFile(dir + "/manifest.json", R"([{"Config":")" + man->config.digest.hex() +
                                          R"(.json","RepoTags":)" + repo_tags_json +
                                          R"(,"Layers":["abc123/layer.tar"]}])");
  }

  base::TempDir tmp_;
  std::unique_ptr<cache::ContentStore> src_;
  std::unique_ptr<cache::ContentStore> dst_;
  std::unique_ptr<ImageStore> store_;
  std::string scratch_;
};

TEST_F(ImportTest, OciLayoutDirNamedByAnnotation) {
  oci::Descriptor m = MakeImage(*src_, scratch_, "one");
  ASSERT_TRUE(oci::WriteOciLayoutDir(*src_, m, Path("layout"), {"docker.io/library/hello:1"}).ok());
  auto records = store_->Import(Path("layout"));
  ASSERT_TRUE(records.ok()) << records.status();
  ASSERT_EQ(records->size(), 1u);
  EXPECT_EQ((*records)[0].ref, "docker.io/library/hello:1");
  EXPECT_EQ((*records)[0].target.digest, m.digest);
  EXPECT_EQ((*records)[0].target.media_type, oci::kMediaTypeOciManifest);
  EXPECT_EQ(BlobCount(*dst_), 3) << "manifest, config and one layer";
}

TEST_F(ImportTest, OciArchiveNeedsNameWhenUnnamed) {
  oci::Descriptor m = MakeImage(*src_, scratch_, "two");
  {
    base::UniqueFd fd(::open(Path("img.tar").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644));
    ASSERT_TRUE(oci::WriteOciArchive(*src_, m, fd.get()).ok());
  }
  auto unnamed = store_->Import(Path("img.tar"));
  ASSERT_FALSE(unnamed.ok());
  EXPECT_EQ(unnamed.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(unnamed.status().message()), HasSubstr("--name REF"));

  auto named = store_->Import(Path("img.tar"), {.name = "hello:2"});
  ASSERT_TRUE(named.ok()) << named.status();
  ASSERT_EQ(named->size(), 1u);
  EXPECT_EQ((*named)[0].ref, "docker.io/library/hello:2");
  EXPECT_EQ((*named)[0].target.digest, m.digest);
  EXPECT_FALSE(store_->Import(Path("img.tar"), {.name = "Bad/Name"}).ok());
}

TEST_F(ImportTest, DockerArchiveWrittenByKilnRoundTrips) {
  oci::Descriptor m = MakeImage(*src_, scratch_, "three");
  {
    base::UniqueFd fd(::open(Path("docker.tar").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644));
    ASSERT_TRUE(oci::WriteDockerArchive(*src_, m, fd.get(), {"hello:3"}).ok());
  }
  auto records = store_->Import(Path("docker.tar"));
  ASSERT_TRUE(records.ok()) << records.status();
  ASSERT_EQ(records->size(), 1u);
  EXPECT_EQ((*records)[0].ref, "docker.io/library/hello:3");
  EXPECT_EQ((*records)[0].target.digest, m.digest);

  // Without index.json only manifest.json (the `docker save` part) is left to read.
  ASSERT_EQ(::mkdir(Path("x").c_str(), 0755), 0);
  ASSERT_EQ(RunTool({"tar", "-C", Path("x"), "-xf", Path("docker.tar")}).exit_code, 0);
  ASSERT_EQ(::unlink(Path("x/index.json").c_str()), 0);
  TarDir(Path("x"), Path("docker-only.tar"));
  ASSERT_TRUE(store_->Remove("hello:3").ok());
  auto docker_only = store_->Import(Path("docker-only.tar"));
  ASSERT_TRUE(docker_only.ok()) << docker_only.status();
  ASSERT_EQ(docker_only->size(), 1u);
  EXPECT_EQ((*docker_only)[0].ref, "docker.io/library/hello:3");
  EXPECT_EQ((*docker_only)[0].target.digest, m.digest) << "same config and gzip layer";
}

TEST_F(ImportTest, ClassicDockerSaveWithUncompressedLayers) {
  MakeClassicDockerSave(Path("save"), "four", R"(["hello:4","other/x:y"])");
  TarDir(Path("save"), Path("save.tar"));
  auto records = store_->Import(Path("save.tar"));
  ASSERT_TRUE(records.ok()) << records.status();
  ASSERT_EQ(records->size(), 2u);
  EXPECT_EQ((*records)[0].ref, "docker.io/library/hello:4");
  EXPECT_EQ((*records)[1].ref, "docker.io/other/x:y");
  auto man = oci::ParseManifest(*dst_->ReadAll((*records)[0].target.digest));
  ASSERT_TRUE(man.ok()) << man.status();
  EXPECT_EQ(man->media_type, oci::kMediaTypeOciManifest);
  ASSERT_EQ(man->layers.size(), 1u);
  EXPECT_EQ(man->layers[0].media_type, oci::kMediaTypeOciLayer) << "uncompressed stays tar";
  EXPECT_EQ(man->layers[0].digest.str(),
            base::Digest::Of(ReadFile(Path("save/abc123/layer.tar"))).str());
}

TEST_F(ImportTest, DockerSaveWithGzipLayerKeepsGzipMediaType) {
  MakeClassicDockerSave(Path("save"), "gz", R"(["gz:1"])");
  auto r = RunTool({"gzip", "-n", Path("save/abc123/layer.tar")});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  ASSERT_EQ(
      ::rename(Path("save/abc123/layer.tar.gz").c_str(), Path("save/abc123/layer.tar").c_str()), 0);
  TarDir(Path("save"), Path("save.tar"));
  auto records = store_->Import(Path("save.tar"));
  ASSERT_TRUE(records.ok()) << records.status();
  auto man = oci::ParseManifest(*dst_->ReadAll((*records)[0].target.digest));
  ASSERT_TRUE(man.ok());
  EXPECT_EQ(man->layers[0].media_type, oci::kMediaTypeOciLayerGzip);
}

TEST_F(ImportTest, DockerSaveWithSymlinkedRepeatedLayer) {
  // `docker save` stores a repeated layer once and links the other copies to it.
  std::string save = Path("save");
  ASSERT_EQ(::mkdir(save.c_str(), 0755), 0);
  ASSERT_EQ(::mkdir((save + "/l0").c_str(), 0755), 0);
  ASSERT_EQ(::mkdir((save + "/l1").c_str(), 0755), 0);
  ASSERT_EQ(::mkdir(Path("rootfs").c_str(), 0755), 0);
  WriteFile(Path("rootfs/f"), "same\n");
  ASSERT_EQ(RunTool({"tar", "-C", Path("rootfs"), "-cf", save + "/l0/layer.tar", "f"}).exit_code,
            0);
  ASSERT_EQ(::symlink("../l0/layer.tar", (save + "/l1/layer.tar").c_str()), 0);
  oci::Image img;
  base::Digest diff = base::Digest::Of(ReadFile(save + "/l0/layer.tar"));
  img.diff_ids = {diff, diff};
  std::string config = oci::SerializeImage(img);
  WriteFile(save + "/" + base::Digest::Of(config).hex() + ".json", config);
  WriteFile(save + "/manifest.json",
            R"([{"Config":")" + base::Digest::Of(config).hex() +
                R"(.json","RepoTags":["twice:1"],"Layers":["l0/layer.tar","l1/layer.tar"]}])");
  TarDir(save, Path("save.tar"));
  auto list = RunTool({"tar", "-tvf", Path("save.tar")});
  ASSERT_THAT(list.output, HasSubstr("l1/layer.tar -> ../l0/layer.tar")) << list.output;
  auto records = store_->Import(Path("save.tar"));
  ASSERT_TRUE(records.ok()) << records.status();
  auto man = oci::ParseManifest(*dst_->ReadAll((*records)[0].target.digest));
  ASSERT_TRUE(man.ok());
  ASSERT_EQ(man->layers.size(), 2u);
  EXPECT_EQ(man->layers[0].digest, diff);
  EXPECT_EQ(man->layers[1], man->layers[0]);
}

TEST_F(ImportTest, CorruptOciBlobIsDataLossAndNothingImported) {
  oci::Descriptor m = MakeImage(*src_, scratch_, "five");
  ASSERT_TRUE(oci::WriteOciLayoutDir(*src_, m, Path("layout"), {"hello:5"}).ok());
  auto man = oci::ParseManifest(*src_->ReadAll(m.digest));
  ASSERT_TRUE(man.ok());
  std::string layer_path = Path("layout/blobs/sha256/" + man->layers[0].digest.hex());
  std::string bytes = ReadFile(layer_path);
  bytes[bytes.size() / 2] ^= 0x40;
  WriteFile(layer_path, bytes);
  auto records = store_->Import(Path("layout"));
  ASSERT_FALSE(records.ok());
  EXPECT_EQ(records.status().code(), absl::StatusCode::kDataLoss) << records.status();
  EXPECT_THAT(std::string(records.status().message()), HasSubstr(man->layers[0].digest.hex()));
  auto list = store_->List();
  ASSERT_TRUE(list.ok());
  EXPECT_TRUE(list->empty());
  EXPECT_EQ(BlobCount(*dst_), 0) << "no blob of the broken image may reach the store";
}

TEST_F(ImportTest, CorruptConfigIsDataLoss) {
  oci::Descriptor m = MakeImage(*src_, scratch_, "cfg");
  ASSERT_TRUE(oci::WriteOciLayoutDir(*src_, m, Path("layout"), {"hello:6"}).ok());
  auto man = oci::ParseManifest(*src_->ReadAll(m.digest));
  std::string cfg = Path("layout/blobs/sha256/" + man->config.digest.hex());
  std::string bytes = ReadFile(cfg);
  bytes[1] = ' ';
  WriteFile(cfg, bytes);
  auto records = store_->Import(Path("layout"));
  ASSERT_FALSE(records.ok());
  EXPECT_EQ(records.status().code(), absl::StatusCode::kDataLoss) << records.status();
  EXPECT_EQ(BlobCount(*dst_), 0);
}

TEST_F(ImportTest, DockerLayerNotMatchingDiffIdIsDataLoss) {
  MakeClassicDockerSave(Path("save"), "six", R"(["hello:6"])");
  std::string layer = Path("save/abc123/layer.tar");
  std::string bytes = ReadFile(layer);
  bytes[600] ^= 0x01;  // inside hello.txt's data block
  WriteFile(layer, bytes);
  TarDir(Path("save"), Path("save.tar"));
  auto records = store_->Import(Path("save.tar"));
  ASSERT_FALSE(records.ok());
  EXPECT_EQ(records.status().code(), absl::StatusCode::kDataLoss) << records.status();
  EXPECT_THAT(std::string(records.status().message()), HasSubstr("abc123/layer.tar"));
  EXPECT_EQ(BlobCount(*dst_), 0);
  EXPECT_TRUE(store_->List()->empty());
}

TEST_F(ImportTest, TruncatedGzipLayerIsAnError) {
  MakeClassicDockerSave(Path("save"), "trunc", R"(["t:1"])");
  ASSERT_EQ(RunTool({"gzip", "-n", Path("save/abc123/layer.tar")}).exit_code, 0);
  std::string gz = ReadFile(Path("save/abc123/layer.tar.gz"));
  ::unlink(Path("save/abc123/layer.tar.gz").c_str());
  WriteFile(Path("save/abc123/layer.tar"), gz.substr(0, gz.size() - 12));
  TarDir(Path("save"), Path("save.tar"));
  auto records = store_->Import(Path("save.tar"));
  ASSERT_FALSE(records.ok());
  EXPECT_THAT(std::string(records.status().message()), HasSubstr("truncated gzip"));
  EXPECT_EQ(BlobCount(*dst_), 0);
}

TEST_F(ImportTest, MultiPlatformIndexResolvesToLinuxAmd64) {
  oci::Descriptor arm = MakeImage(*src_, scratch_, "arm", true, "arm64");
  oci::Descriptor amd = MakeImage(*src_, scratch_, "amd", true, "amd64");
  oci::Descriptor index = MakeIndex(*src_, {arm, amd});
  ASSERT_TRUE(oci::WriteOciLayoutDir(*src_, index, Path("layout"), {"multi:1"}).ok());
  auto records = store_->Import(Path("layout"));
  ASSERT_TRUE(records.ok()) << records.status();
  ASSERT_EQ(records->size(), 1u);
  EXPECT_EQ((*records)[0].target.digest, amd.digest);
  EXPECT_FALSE(dst_->Has(arm.digest)) << "other platforms are not imported";
  EXPECT_EQ(BlobCount(*dst_), 3);
}

TEST_F(ImportTest, MultiPlatformIndexWithoutAmd64ListsPlatforms) {
  oci::Descriptor arm = MakeImage(*src_, scratch_, "arm", true, "arm64");
  oci::Descriptor s390 = MakeImage(*src_, scratch_, "s390", true, "s390x");
  oci::Descriptor index = MakeIndex(*src_, {arm, s390});
  ASSERT_TRUE(
      oci::WriteOciArchive(
          *src_, index,
          base::UniqueFd(::open(Path("m.tar").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644)).get(),
          {"multi:2"})
          .ok());
  auto records = store_->Import(Path("m.tar"));
  ASSERT_FALSE(records.ok());
  EXPECT_EQ(records.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(records.status().message()),
              HasSubstr("platforms present: linux/arm64, linux/s390x"));
}

TEST_F(ImportTest, SymlinkedBlobCannotReadOutsideTheLayout) {
  oci::Descriptor m = MakeImage(*src_, scratch_, "link");
  ASSERT_TRUE(oci::WriteOciLayoutDir(*src_, m, Path("layout"), {"link:1"}).ok());
  auto man = oci::ParseManifest(*src_->ReadAll(m.digest));
  std::string layer_path = Path("layout/blobs/sha256/" + man->layers[0].digest.hex());
  // Put the real blob outside and point at it with an absolute symlink.
  ASSERT_EQ(::rename(layer_path.c_str(), Path("outside-blob").c_str()), 0);
  ASSERT_EQ(::symlink(Path("outside-blob").c_str(), layer_path.c_str()), 0);
  auto records = store_->Import(Path("layout"));
  ASSERT_FALSE(records.ok()) << "an absolute symlink must resolve inside the layout";
  EXPECT_EQ(records.status().code(), absl::StatusCode::kNotFound) << records.status();
  EXPECT_TRUE(store_->List()->empty());
}

TEST_F(ImportTest, RejectsThingsThatAreNotImages) {
  ASSERT_EQ(::mkdir(Path("empty").c_str(), 0755), 0);
  auto r = store_->Import(Path("empty"));
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(std::string(r.status().message()),
              HasSubstr("found neither index.json nor manifest.json"));
  WriteFile(Path("junk.tar"), std::string(5000, 'x'));
  auto junk = store_->Import(Path("junk.tar"));
  ASSERT_FALSE(junk.ok());
  EXPECT_EQ(junk.status().code(), absl::StatusCode::kInvalidArgument) << junk.status();
  auto missing = store_->Import(Path("nope"));
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace kiln::engine::image
