// The files the sandbox binds into every RUN (/etc/resolv.conf, /etc/hosts) need a mount point;
// where the base image has none the sandbox creates an empty stub, and the RUN must remove it
// again before its layer is made, as BuildKit does (moby/buildkit#1739). A base's own file,
// even an empty one, stays. Through kilnctl and a real kilnd; ROOTLESS: also as kiln-test.
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/daemon/kilnd_fixture.h"
#include "tests/daemon/test_util.h"

namespace kiln::testing {
namespace {

bool Exists(const std::string& path) {
  struct stat st;
  return lstat(path.c_str(), &st) == 0;
}

class RunStubsTest : public KilndFixture {
 protected:
  void SetUp() override { StartKilnd(); }

  void Build(const std::string& ctx, const std::string& output) {
    ProcessResult r = kiln::testing::Run(
        Kilnctl({"build", "--progress", "plain", "--output", output, ctx}), {}, absl::Seconds(300));
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }

  // Builds `ctx` into an uncompressed OCI layout and returns `tar -tv` of its last layer.
  std::string LastLayerListing(const std::string& ctx, const std::string& name) {
    const std::string layout = dir_.path() + "/" + name;
    Build(ctx, "type=oci,tar=false,compression=uncompressed,dest=" + layout);
    auto blob = [&](const std::string& digest) {
      return layout + "/blobs/sha256/" + digest.substr(digest.find(':') + 1);
    };
    nlohmann::json index = nlohmann::json::parse(ReadFile(layout + "/index.json"), nullptr, false);
    if (!index.is_object()) return "bad index.json";
    nlohmann::json manifest = nlohmann::json::parse(
        ReadFile(blob(index["manifests"][0]["digest"].get<std::string>())), nullptr, false);
    if (!manifest.is_object() || manifest["layers"].empty()) return "bad manifest";
    ProcessResult tar = kiln::testing::Run(
        {"tar", "-tvf", blob(manifest["layers"].back()["digest"].get<std::string>())});
    EXPECT_EQ(tar.exit_code, 0) << tar.err;
    return tar.out;
  }
};

// busybox has no /etc/hosts or /etc/resolv.conf: the RUN's layer holds only what the command
// wrote, and the flattened image has neither file. (Before the fix both were 0644 empty files.)
TEST_F(RunStubsTest, StubsTheRunCreatedAreRemoved) {
  const std::string ctx =
      Dir("plain", {{"Dockerfile", "FROM busybox:1.35\nRUN echo hi > /hi && cat /etc/hosts\n"}});
  std::string listing = LastLayerListing(ctx, "plain-oci");
  EXPECT_TRUE(absl::StrContains(listing, " hi\n")) << listing;
  EXPECT_FALSE(absl::StrContains(listing, "etc/hosts")) << listing;
  EXPECT_FALSE(absl::StrContains(listing, "etc/resolv.conf")) << listing;
  const std::string out = dir_.path() + "/plain-fs";
  Build(ctx, "type=local,dest=" + out);
  EXPECT_EQ(ReadFile(out + "/hi"), "hi\n");
  EXPECT_FALSE(Exists(out + "/etc/hosts"));
  EXPECT_FALSE(Exists(out + "/etc/resolv.conf"));
  EXPECT_TRUE(Exists(out + "/etc/passwd"));  // the rest of /etc is untouched
}

// The base's own files stay, with their content; an empty file of the base's own is not a stub
// and is neither removed nor whited out.
TEST_F(RunStubsTest, TheBasesOwnFilesStay) {
  const std::string ctx = Dir("own", {{"Dockerfile",
                                       "FROM busybox:1.35\n"
                                       "COPY hosts /etc/hosts\n"
                                       "COPY empty /etc/resolv.conf\n"
                                       "RUN echo hi > /hi\n"},
                                      {"hosts", "198.51.100.7 mine.test\n"},
                                      {"empty", ""}});
  std::string listing = LastLayerListing(ctx, "own-oci");
  EXPECT_FALSE(absl::StrContains(listing, "etc/")) << listing;  // no whiteout, no copy
  const std::string out = dir_.path() + "/own-fs";
  Build(ctx, "type=local,dest=" + out);
  EXPECT_EQ(ReadFile(out + "/etc/hosts"), "198.51.100.7 mine.test\n");
  ASSERT_TRUE(Exists(out + "/etc/resolv.conf"));
  EXPECT_EQ(ReadFile(out + "/etc/resolv.conf"), "");
}

// A directory the sandbox had to create for a stub goes with it; one the command filled stays,
// and only the stubs in it are removed.
TEST_F(RunStubsTest, CreatedEtcDirectoryGoesUnlessTheCommandUsedIt) {
  const std::string ctx = Dir("noetc", {{"Dockerfile",
                                         "FROM busybox:1.35 AS noetc\n"
                                         "RUN mkdir /new && for d in /bin /lib /lib64 /usr; do "
                                         "[ ! -e $d ] || cp -a $d /new/; done\n"
                                         "FROM scratch AS bare\n"
                                         "COPY --from=noetc /new/ /\n"
                                         "RUN echo ran > /ran\n"
                                         "FROM bare AS used\n"
                                         "RUN echo x > /etc/mine\n"}});
  const std::string bare = dir_.path() + "/bare-fs";
  ProcessResult r = kiln::testing::Run(Kilnctl({"build", "--progress", "plain", "--target", "bare",
                                                "--output", "type=local,dest=" + bare, ctx}),
                                       {}, absl::Seconds(300));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(ReadFile(bare + "/ran"), "ran\n");
  EXPECT_FALSE(Exists(bare + "/etc")) << "the stubs' directory leaked into the layer";
  const std::string used = dir_.path() + "/used-fs";
  r = kiln::testing::Run(Kilnctl({"build", "--progress", "plain", "--target", "used", "--output",
                                  "type=local,dest=" + used, ctx}),
                         {}, absl::Seconds(300));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(ReadFile(used + "/etc/mine"), "x\n");
  EXPECT_FALSE(Exists(used + "/etc/hosts"));
  EXPECT_FALSE(Exists(used + "/etc/resolv.conf"));
}

}  // namespace
}  // namespace kiln::testing
