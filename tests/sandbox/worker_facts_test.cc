// ProbeWorkerFacts: the facts `kilnctl debug workers` prints, including the self-test run.
#include "sandbox/worker_facts.h"

#include <unistd.h>

#include "base/userns.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/sandbox/rootfs_fixture.h"

namespace kiln::sandbox {
namespace {

TEST(WorkerFactsTest, DescribeThisWorker) {
  absl::StatusOr<WorkerFacts> f = ProbeWorkerFacts(testing::SharedSandbox());
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->self_test, "ok");
  EXPECT_TRUE(f->overlay) << f->overlay_note;
  EXPECT_EQ(f->rootless, ::geteuid() != 0 || base::InUserNamespace());
  EXPECT_EQ(f->capabilities.size(), 14u);
  EXPECT_THAT(f->network_modes, ::testing::ElementsAre("default", "none", "host"));
  // slirp4netns is installed by tools/setup.sh; its check is "ok" or says what is wrong.
  EXPECT_THAT(f->network_helper, ::testing::HasSubstr("slirp4netns 1."));
  EXPECT_FALSE(f->network_helper_check.empty());
  // The helper is started on a fresh user + network namespace. As real root it must work; an
  // unprivileged caller outside a user namespace of its own cannot setns into it, which the
  // self-test shows (the probe's check alone says "ok" there).
  EXPECT_FALSE(f->network_helper_self_test.empty());
  if (f->network_helper_check == "ok" && !f->rootless) {
    EXPECT_EQ(f->network_helper_self_test, "ok");
  }
  EXPECT_THAT(f->seccomp, ::testing::HasSubstr("docker-default"));
  EXPECT_FALSE(f->uid_map.empty());
  EXPECT_FALSE(f->limit_note.empty());
  if (f->rootless && !base::InUserNamespace()) {
    // Unprivileged users cannot create cgroups on this kind of machine unless delegated.
    EXPECT_NE(f->limit_layer, LimitLayer::kCgroupV1);
  }
  if (!f->full_mapping) {
    EXPECT_FALSE(f->mapping_note.empty());
  }
}

}  // namespace
}  // namespace kiln::sandbox
