// Interop: skopeo and umoci (real processes) read what Kiln's writers produce, and the real
// busybox layout from tools/images/build.sh imports and resolves.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/temp_dir.h"
#include "cache/fs_content_store.h"
#include "engine/image/image_store.h"
#include "engine/image/store_resolver.h"
#include "engine/oci/image_config.h"
#include "engine/oci/layout_writer.h"
#include "engine/oci/manifest.h"
#include "engine/oci/media_types.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/engine/image/test_util.h"

namespace kiln::engine::image {
namespace {

using test_util::FindTool;
using test_util::MakeImage;
using test_util::ReadFile;
using test_util::RunTool;
using ::testing::HasSubstr;

class ToolsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto tmp = base::TempDir::Create("kiln-tools-test-");
    ASSERT_TRUE(tmp.ok()) << tmp.status();
    tmp_ = std::move(*tmp);
    auto cs = cache::OpenFsContentStore(tmp_.path() + "/content");
    ASSERT_TRUE(cs.ok()) << cs.status();
    content_ = std::move(*cs);
    scratch_ = tmp_.path() + "/scratch";
    ASSERT_EQ(::mkdir(scratch_.c_str(), 0755), 0);
  }

  void RequireTool(const std::string& tool) {
    ASSERT_FALSE(FindTool(tool).empty())
        << tool << " is not installed: run tools/setup.sh as root (it installs skopeo and umoci)";
  }

  std::string Path(const std::string& name) { return tmp_.path() + "/" + name; }

  base::TempDir tmp_;
  std::unique_ptr<cache::ContentStore> content_;
  std::string scratch_;
};

TEST_F(ToolsTest, SkopeoInspectsOurLayoutAndArchives) {
  RequireTool("skopeo");
  oci::Descriptor m = MakeImage(*content_, scratch_, "skopeo");
  ASSERT_TRUE(oci::WriteOciLayoutDir(*content_, m, Path("layout"), {"docker.io/library/s:1"}).ok());
  auto r = RunTool({"skopeo", "inspect", "oci:" + Path("layout")});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("\"Digest\": \"" + m.digest.str() + "\""));
  EXPECT_THAT(r.output, HasSubstr("GREETING=skopeo"));

  {
    base::UniqueFd fd(::open(Path("oci.tar").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644));
    ASSERT_TRUE(oci::WriteOciArchive(*content_, m, fd.get(), {"docker.io/library/s:1"}).ok());
  }
  r = RunTool({"skopeo", "inspect", "oci-archive:" + Path("oci.tar")});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr(m.digest.str()));

  {
    base::UniqueFd fd(::open(Path("docker.tar").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644));
    ASSERT_TRUE(oci::WriteDockerArchive(*content_, m, fd.get(), {"docker.io/library/s:1"}).ok());
  }
  r = RunTool({"skopeo", "inspect", "--config", "docker-archive:" + Path("docker.tar")});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("GREETING=skopeo"));
  r = RunTool({"skopeo", "inspect", "docker-archive:" + Path("docker.tar")});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("GREETING=skopeo"));
  r = RunTool({"tar", "-xOf", Path("docker.tar"), "manifest.json"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr(R"("RepoTags":["s:1"])")) << "docker save uses familiar names";
}

TEST_F(ToolsTest, UmociUnpacksOurLayout) {
  RequireTool("umoci");
  oci::Descriptor m = MakeImage(*content_, scratch_, "umoci");
  ASSERT_TRUE(oci::WriteOciLayoutDir(*content_, m, Path("layout"), {"u:1"}).ok());
  std::vector<std::string> argv = {"umoci", "unpack"};
  if (::geteuid() != 0) argv.push_back("--rootless");
  argv.insert(argv.end(), {"--image", Path("layout") + ":u:1", Path("bundle")});
  auto r = RunTool(argv);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(ReadFile(Path("bundle/rootfs/hello.txt")), "umoci\n");
  EXPECT_THAT(ReadFile(Path("bundle/config.json")), HasSubstr("GREETING=umoci"));
}

TEST_F(ToolsTest, ExtendingALayoutKeepsOtherImages) {
  RequireTool("skopeo");
  oci::Descriptor a = MakeImage(*content_, scratch_, "first");
  oci::Descriptor b = MakeImage(*content_, scratch_, "second");
  ASSERT_TRUE(oci::WriteOciLayoutDir(*content_, a, Path("layout"), {"a"}).ok());
  ASSERT_TRUE(oci::WriteOciLayoutDir(*content_, b, Path("layout"), {"b"}).ok());
  ASSERT_TRUE(oci::WriteOciLayoutDir(*content_, b, Path("layout"), {"b"}).ok());
  auto ra = RunTool({"skopeo", "inspect", "oci:" + Path("layout") + ":a"});
  ASSERT_EQ(ra.exit_code, 0) << ra.output;
  EXPECT_THAT(ra.output, HasSubstr(a.digest.str()));
  auto rb = RunTool({"skopeo", "inspect", "oci:" + Path("layout") + ":b"});
  ASSERT_EQ(rb.exit_code, 0) << rb.output;
  EXPECT_THAT(rb.output, HasSubstr(b.digest.str()));
  EXPECT_EQ(RunTool({"sh", "-c", "ls " + Path("layout") + " | tr '\\n' ' '"}).output,
            "blobs index.json oci-layout ");
}

TEST_F(ToolsTest, ImportsAndResolvesTheRealBusyboxBase) {
  std::string layout = test_util::BusyboxLayoutDir();
  ASSERT_FALSE(layout.empty())
      << "no busybox layout found in $KILN_IMAGES_DIR, /var/cache/kiln/images or "
         "~/.cache/kiln/images: run tools/images/build.sh (tools/test.sh does this first)";
  auto store = ImageStore::Open(Path("images"), content_.get());
  ASSERT_TRUE(store.ok()) << store.status();
  auto records = (*store)->Import(layout);
  ASSERT_TRUE(records.ok()) << records.status();
  ASSERT_EQ(records->size(), 1u);
  EXPECT_EQ((*records)[0].ref, "docker.io/library/busybox:1.35");
  StoreImageResolver resolver(store->get());
  auto r = resolver.Resolve("busybox:1.35", "");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->manifest_digest, (*records)[0].target.digest);
  EXPECT_EQ(oci::EnvLookup(r->config.env, "PATH"),
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
  ASSERT_TRUE(r->config.cmd.has_value());
  EXPECT_EQ(*r->config.cmd, std::vector<std::string>{"sh"});
  // The same image as a classic `docker save` tar (gzip layer named layer.tar): the importer
  // verifies the 1 MB gzip layer against the config's diff_id and keeps its digest.
  auto man = oci::ParseManifest(*content_->ReadAll(r->manifest_digest));
  ASSERT_TRUE(man.ok());
  std::string save = Path("save");
  ASSERT_EQ(::mkdir(save.c_str(), 0755), 0);
  ASSERT_EQ(::mkdir((save + "/l0").c_str(), 0755), 0);
  test_util::WriteFile(save + "/" + r->config_digest.hex() + ".json",
                       *content_->ReadAll(r->config_digest));
  test_util::WriteFile(save + "/l0/layer.tar", *content_->ReadAll(man->layers[0].digest));
  test_util::WriteFile(save + "/manifest.json",
                       R"([{"Config":")" + r->config_digest.hex() +
                           R"(.json","RepoTags":["bb:classic"],"Layers":["l0/layer.tar"]}])");
  auto tar = RunTool({"tar", "-C", save, "-cf", Path("save.tar"), "."});
  ASSERT_EQ(tar.exit_code, 0) << tar.output;
  auto classic = (*store)->Import(Path("save.tar"));
  ASSERT_TRUE(classic.ok()) << classic.status();
  auto classic_man = oci::ParseManifest(*content_->ReadAll((*classic)[0].target.digest));
  ASSERT_TRUE(classic_man.ok());
  EXPECT_EQ(classic_man->layers[0].digest, man->layers[0].digest);
  EXPECT_EQ(classic_man->layers[0].media_type, oci::kMediaTypeOciLayerGzip);
  EXPECT_EQ(classic_man->config.digest, r->config_digest);

  // Export it again with the writer: skopeo reads the result, digests unchanged.
  ASSERT_TRUE(oci::WriteOciLayoutDir(*content_, (*records)[0].target, Path("again"),
                                     {"docker.io/library/busybox:1.35"})
                  .ok());
  if (!FindTool("skopeo").empty()) {
    auto out = RunTool({"skopeo", "inspect", "oci:" + Path("again")});
    ASSERT_EQ(out.exit_code, 0) << out.output;
    EXPECT_THAT(out.output, HasSubstr(r->manifest_digest.str()));
  }
}

}  // namespace
}  // namespace kiln::engine::image
