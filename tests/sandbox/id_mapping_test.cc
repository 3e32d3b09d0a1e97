// WriteIdMapsFromParent: a failing newuidmap is reported with its own exit status and
// message, never as a bare EPERM.
#include "sandbox/id_mapping.h"

#include <sys/wait.h>
#include <unistd.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kiln::sandbox {
namespace {

using ::testing::HasSubstr;

TEST(IdMappingToolTest, NewuidmapFailureCarriesItsOwnMessage) {
  // A pid that no longer exists: newuidmap itself fails and says why.
  pid_t gone = ::fork();
  if (gone == 0) ::_exit(0);
  ASSERT_GT(gone, 0);
  ASSERT_EQ(::waitpid(gone, nullptr, 0), gone);
  IdMapping m;
  m.mode = IdMappingMode::kSubordinateRange;
  m.newuidmap_args = {"0", std::to_string(::getuid()), "1"};
  m.newgidmap_args = {"0", std::to_string(::getgid()), "1"};
  absl::Status s = WriteIdMapsFromParent(m, gone);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(s.message(), HasSubstr("newuidmap " + std::to_string(gone) + " 0 "));
  EXPECT_THAT(s.message(), HasSubstr("exit status"));
  EXPECT_THAT(s.message(), HasSubstr("newuidmap: "));  // the tool's own stderr
}

TEST(IdMappingToolTest, UnmappedIdMessageSaysHowToFixIt) {
  IdMapping m;
  m.mode = IdMappingMode::kSingleId;
  m.mapped_uids = m.mapped_gids = 1;
  m.user_name = "alice";
  m.note = "no range for user 'alice' in /etc/subuid";
  std::string msg = m.UnmappedIdMessage("nobody", 65534, 65534);
  EXPECT_THAT(msg, HasSubstr("'nobody' (uid 65534"));
  EXPECT_THAT(msg, HasSubstr("subordinate id range is missing"));
  EXPECT_THAT(msg,
              HasSubstr("usermod --add-subuids 100000-165535 --add-subgids 100000-165535 alice"));
}

}  // namespace
}  // namespace kiln::sandbox
