// Issue 13: a uid that a root kilnd admits (allow-uids) must not read root-only files through
// the Dockerfile name: an absolute filename, a '..' name, a Dockerfile symlink leading out of
// its directory, or a root-only Dockerfile in a directory the caller can read. Before the fix
// kilnd read them as root and the parse error echoed the first word of the secret. Root only.
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/daemon/kilnd_fixture.h"
#include "tests/daemon/test_util.h"

namespace kiln::testing {
namespace {

constexpr char kSecretWord[] = "KILNSECRETWORD1";

class PathSecurityTest : public KilndFixture {
 protected:
  void SetUp() override {
    ASSERT_EQ(geteuid(), 0u) << "this test must run as root (it switches to kiln-test)";
    user_ = LookupUser("kiln-test");
    ASSERT_TRUE(user_.found) << "user kiln-test is missing; run tools/setup-test-user.sh";
    StartKilnd(absl::StrCat("allow-uids = [", user_.uid, "]\n"));
    // Our own temp dir only: kiln-test may pass through it and use the socket.
    ASSERT_EQ(chmod(dir_.path().c_str(), 0711), 0);
    ASSERT_EQ(chmod((dir_.path() + "/run").c_str(), 0711), 0);
    ASSERT_EQ(chmod(socket_.c_str(), 0666), 0);
    const std::string secret_text = absl::StrCat(kSecretWord, " top secret\n");
    vault_ = Dir("vault", {{"secret", secret_text}});
    ASSERT_EQ(chmod(vault_.c_str(), 0700), 0);
    ASSERT_EQ(chmod((vault_ + "/secret").c_str(), 0600), 0);
    ctx_ = Dir("ctx", {{"Dockerfile", "FROM busybox:1.35\nRUN true\n"}, {"rootonly", secret_text}});
    ASSERT_EQ(chmod(ctx_.c_str(), 0755), 0);
    ASSERT_EQ(chmod((ctx_ + "/Dockerfile").c_str(), 0644), 0);
    ASSERT_EQ(chmod((ctx_ + "/rootonly").c_str(), 0600), 0);
    ASSERT_EQ(symlink((vault_ + "/secret").c_str(), (ctx_ + "/link-abs").c_str()), 0);
    ASSERT_EQ(symlink("../vault/secret", (ctx_ + "/link-rel").c_str()), 0);
    ASSERT_EQ(symlink("Dockerfile", (ctx_ + "/link-in").c_str()), 0);
  }

  ProcessResult BuildAsUser(const std::string& filename) {
    return kiln::testing::Run(
        AsUser(user_, {},
               Kilnctl({"build", "--progress", "plain", "--local", "context=" + ctx_, "--local",
                        "dockerfile=" + ctx_, "--opt", "filename=" + filename})),
        {}, absl::Seconds(300));
  }

  TestUser user_;
  std::string vault_;
  std::string ctx_;
};

TEST_F(PathSecurityTest, AnAdmittedUidCannotReadRootOnlyFilesThroughTheDockerfileName) {
  struct Case {
    std::string filename;
    std::string error;  // expected in stderr
  };
  const std::vector<Case> cases = {
      {vault_ + "/secret", "must be a name inside the dockerfile directory"},
      {"../vault/secret", "must be a name inside the dockerfile directory"},
      {"link-abs", "leads outside"},
      {"link-rel", "leads outside"},
      {"rootonly", absl::StrCat("access '", ctx_, "/rootonly' as uid ", user_.uid)},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.filename);
    ProcessResult r = BuildAsUser(c.filename);
    EXPECT_NE(r.exit_code, 0) << r.out << r.err;
    EXPECT_FALSE(absl::StrContains(r.out, kSecretWord)) << r.out;
    EXPECT_FALSE(absl::StrContains(r.err, kSecretWord)) << r.err;
    EXPECT_TRUE(absl::StrContains(r.err, c.error)) << r.err;
  }
  // A symlink that stays inside the directory still builds.
  ProcessResult inside = BuildAsUser("link-in");
  EXPECT_EQ(inside.exit_code, 0) << inside.err;
}

}  // namespace
}  // namespace kiln::testing
