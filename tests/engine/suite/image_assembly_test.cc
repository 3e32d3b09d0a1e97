// Image config and history assembly (exporter.h AssembleImage) of real builds on fakes: the
// base image's config and history come first, each step adds its own, and every layer (made
// by diffing the snapshot trees) pairs with a non-empty history entry.
#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "tests/engine/suite/engine_harness.h"

namespace kiln::engine::testing {
namespace {

class ImageAssemblyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto h = EngineHarness::Create();
    ASSERT_TRUE(h.ok()) << h.status();
    h_ = std::move(*h);
    ASSERT_TRUE(h_->WriteContext("app.sh", "#!/bin/sh\necho app\n", 0755).ok());
    h_->executor().On("make-data", [](int root, const sandbox::Spec&) -> absl::Status {
      return ::mkdirat(root, "data", 0750) == 0 ? absl::OkStatus()
                                                : absl::InternalError("fake run: mkdir data");
    });
  }
  std::unique_ptr<EngineHarness> h_;
};

constexpr char kApp[] =
    "FROM base\n"
    "LABEL org.example.team=build\n"
    "ENV MODE=prod\n"
    "WORKDIR /srv\n"
    "COPY app.sh /srv/\n"
    "RUN make-data\n"
    "USER app\n"
    "EXPOSE 8080\n"
    "ENTRYPOINT [\"/srv/app.sh\"]\n"
    "CMD [\"--serve\"]\n";

TEST_F(ImageAssemblyTest, ConfigMergesTheBaseAndTheSteps) {
  auto o = h_->Build(kApp);
  ASSERT_TRUE(o.ok()) << o.status();
  auto built = h_->Assemble(*o);
  ASSERT_TRUE(built.ok()) << built.status();
  auto img = h_->ConfigOf(*built);
  ASSERT_TRUE(img.ok()) << img.status();
  const oci::ImageConfig& c = img->config;
  EXPECT_EQ(c.env, (std::vector<std::string>{"PATH=/usr/local/bin:/usr/bin:/bin", "MODE=prod"}));
  EXPECT_EQ(c.working_dir, "/srv");
  EXPECT_EQ(c.user, "app");
  EXPECT_EQ(c.labels.at("org.example.team"), "build");
  EXPECT_EQ(c.exposed_ports, (std::vector<std::string>{"8080/tcp"}));
  ASSERT_TRUE(c.entrypoint.has_value());
  EXPECT_EQ(*c.entrypoint, (std::vector<std::string>{"/srv/app.sh"}));
  ASSERT_TRUE(c.cmd.has_value());
  EXPECT_EQ(*c.cmd, (std::vector<std::string>{"--serve"})) << "CMD after ENTRYPOINT is kept";
}

TEST_F(ImageAssemblyTest, HistoryPairsEveryLayer) {
  auto o = h_->Build(kApp);
  ASSERT_TRUE(o.ok()) << o.status();
  auto built = h_->Assemble(*o);
  ASSERT_TRUE(built.ok()) << built.status();
  auto img = h_->ConfigOf(*built);
  ASSERT_TRUE(img.ok()) << img.status();
  // Layers: the base, WORKDIR, COPY and RUN.
  EXPECT_EQ(img->diff_ids.size(), 4u);
  ASSERT_EQ(built->blobs.size(), img->diff_ids.size() + 2) << "layers, config, manifest";
  size_t layered = 0;
  for (const oci::History& h : img->history) layered += h.empty_layer ? 0 : 1;
  EXPECT_EQ(layered, img->diff_ids.size());
  ASSERT_FALSE(img->history.empty());
  EXPECT_EQ(img->history.front().created_by, "fake base layer");
  EXPECT_FALSE(img->history.front().empty_layer);
  // One entry per instruction after FROM, in order; config-only steps are empty layers.
  ASSERT_EQ(img->history.size(), 1u + 9u);
  EXPECT_TRUE(absl::StrContains(img->history[1].created_by, "LABEL")) << img->history[1].created_by;
  EXPECT_TRUE(img->history[1].empty_layer);
  EXPECT_TRUE(absl::StrContains(img->history[4].created_by, "COPY")) << img->history[4].created_by;
  EXPECT_FALSE(img->history[4].empty_layer);
  EXPECT_TRUE(absl::StrContains(img->history[5].created_by, "RUN")) << img->history[5].created_by;
  EXPECT_TRUE(absl::StrContains(img->history[5].created_by, "make-data"));
  EXPECT_FALSE(img->history[5].empty_layer);
  EXPECT_TRUE(img->history.back().empty_layer);  // CMD
  for (const oci::History& h : img->history) EXPECT_FALSE(h.created.empty());
}

TEST_F(ImageAssemblyTest, CachedRebuildGivesTheSameImage) {
  auto first = h_->Build(kApp);
  ASSERT_TRUE(first.ok()) << first.status();
  auto a = h_->Assemble(*first);
  ASSERT_TRUE(a.ok()) << a.status();
  auto second = h_->Build(kApp);
  ASSERT_TRUE(second.ok()) << second.status();
  auto b = h_->Assemble(*second);
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(a->manifest.digest, b->manifest.digest);
  EXPECT_EQ(h_->executor().Runs("make-data"), 1);
}

TEST_F(ImageAssemblyTest, ScratchImageHasOnlyItsOwnLayers) {
  auto o = h_->Build("FROM scratch\nCOPY app.sh /\nCMD [\"/app.sh\"]\n");
  ASSERT_TRUE(o.ok()) << o.status();
  auto built = h_->Assemble(*o);
  ASSERT_TRUE(built.ok()) << built.status();
  auto img = h_->ConfigOf(*built);
  ASSERT_TRUE(img.ok()) << img.status();
  EXPECT_EQ(img->diff_ids.size(), 1u);
  ASSERT_EQ(img->history.size(), 2u);
  EXPECT_FALSE(img->history[0].empty_layer);
  EXPECT_TRUE(img->history[1].empty_layer);
  for (const std::string& kv : img->config.env) {
    EXPECT_NE(kv, BaseImage().config.env[0]) << "nothing is inherited without a base";
  }
  ASSERT_TRUE(img->config.cmd.has_value());
  EXPECT_EQ(*img->config.cmd, (std::vector<std::string>{"/app.sh"}));
}

}  // namespace
}  // namespace kiln::engine::testing
