// SeccompPolicyBuilder and CapabilitySet as values (the installed behaviour is covered by the
// attack suite).
#include "sandbox/seccomp_policy.h"

#include <linux/capability.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "sandbox/capabilities.h"

namespace kiln::sandbox {
namespace {

using ::testing::HasSubstr;

TEST(SeccompPolicyTest, BuilderRecordsTheFirstError) {
  absl::StatusOr<SeccompPolicy> p = SeccompPolicyBuilder()
                                        .Allow({"read", "no_such_syscall", "also_bogus"})
                                        .Allow({"write"})
                                        .Build();
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(p.status().message(), HasSubstr("'no_such_syscall'"));
  p = SeccompPolicyBuilder().AllowIf("clone", {ArgCondition{7, ArgOp::kEqual, 0, 0}}).Build();
  EXPECT_THAT(p.status().message(), HasSubstr("argument index 7"));
  p = SeccompPolicyBuilder().AddArch("pdp11").Build();
  EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(SeccompPolicyTest, DockerDefaultCompiles) {
  absl::StatusOr<SeccompPolicy> p = DockerDefaultPolicy(CapabilitySet::DockerDefault());
  ASSERT_TRUE(p.ok()) << p.status();
  bool has_mount = false, has_chroot = false;
  for (const SyscallRule& r : p->rules) {
    has_mount |= r.name == "mount";
    has_chroot |= r.name == "chroot";
  }
  EXPECT_FALSE(has_mount);
  EXPECT_TRUE(has_chroot);
  absl::StatusOr<SeccompProgram> prog = CompileSeccompPolicy(*p);
  ASSERT_TRUE(prog.ok()) << prog.status();
  EXPECT_GT(prog->instructions.size(), 300u);
  // A set with CAP_SYS_ADMIN allows mount.
  auto admin = CapabilitySet::FromNames({"CAP_SYS_ADMIN"});
  ASSERT_TRUE(admin.ok());
  p = DockerDefaultPolicy(*admin);
  ASSERT_TRUE(p.ok());
  bool admin_mount = false;
  for (const SyscallRule& r : p->rules) admin_mount |= r.name == "mount";
  EXPECT_TRUE(admin_mount);
}

TEST(CapabilitySetTest, DockerDefaultIsTheFourteen) {
  CapabilitySet caps = CapabilitySet::DockerDefault();
  EXPECT_EQ(caps.mask(), 0xa80425fbULL);
  EXPECT_EQ(caps.Names().size(), 14u);
  EXPECT_TRUE(caps.Has(CAP_NET_RAW));
  EXPECT_FALSE(caps.Has(CAP_SYS_ADMIN));
}

TEST(CapabilitySetTest, FromNames) {
  auto caps = CapabilitySet::FromNames({"CAP_CHOWN", "kill", "Net_Bind_Service"});
  ASSERT_TRUE(caps.ok()) << caps.status();
  EXPECT_EQ(caps->Names(), (std::vector<std::string>{"chown", "kill", "net_bind_service"}));
  auto bad = CapabilitySet::FromNames({"CAP_TELEPORT"});
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(bad.status().message(), HasSubstr("CAP_TELEPORT"));
}

}  // namespace
}  // namespace kiln::sandbox
