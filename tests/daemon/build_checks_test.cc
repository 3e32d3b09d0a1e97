// Build checks through kilnctl and a real kilnd (issue 18): `kilnctl build --check`, the
// warnings in every progress mode and in the metadata file, `# check=error=true` failing the
// build before any step, and BUILDKIT_DOCKERFILE_CHECK.
#include <unistd.h>

#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/daemon/kilnd_fixture.h"
#include "tests/daemon/test_util.h"

namespace kiln::testing {
namespace {

class BuildChecksTest : public KilndFixture {
 protected:
  void SetUp() override { StartKilnd(); }

  ProcessResult Kiln(std::vector<std::string> argv) {
    return kiln::testing::Run(Kilnctl(std::move(argv)), {}, absl::Seconds(300));
  }
  std::string Out(const std::string& name) { return dir_.path() + "/" + name; }
};

constexpr char kTwoWarnings[] =
    "FROM busybox:1.35 as Builder\n"
    "RUN echo built > /b\n"
    "CMD echo hi\n";

TEST_F(BuildChecksTest, CheckOnlyReportsAndExitsNonZero) {
  const std::string ctx = Dir("ctx", {{"Dockerfile", kTwoWarnings}});
  ProcessResult r = Kiln({"build", "--check", "--progress", "quiet", ctx});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_TRUE(absl::StrContains(r.out, "Check complete, 3 warnings have been found!")) << r.out;
  EXPECT_TRUE(absl::StrContains(
      r.out,
      "WARNING: StageNameCasing - https://docs.docker.com/go/dockerfile/rule/stage-name-casing/\n"
      "Stage name 'Builder' should be lowercase\nDockerfile:1\n"))
      << r.out;
  EXPECT_TRUE(absl::StrContains(r.out, "'as' and 'FROM' keywords' casing do not match")) << r.out;
  // The snippet marks the line.
  EXPECT_TRUE(absl::StrContains(r.out, "   3 | >>> CMD echo hi")) << r.out;
  // No step ran: the RUN never appears.
  EXPECT_FALSE(absl::StrContains(r.err, "RUN echo built")) << r.err;

  const std::string clean = Dir("clean", {{"Dockerfile", "FROM busybox:1.35\nCMD [\"true\"]\n"}});
  r = Kiln({"build", "--check", "--progress", "quiet", clean});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(absl::StrContains(r.out, "Check complete, no warnings found.")) << r.out;
}

TEST_F(BuildChecksTest, WarningsInEveryProgressModeAndTheMetadataFile) {
  const std::string ctx = Dir("ctx", {{"Dockerfile", kTwoWarnings}});
  for (const char* mode : {"plain", "quiet", "tty"}) {
    ProcessResult r = Kiln({"build", "--progress", mode, ctx});
    EXPECT_EQ(r.exit_code, 0) << mode << r.err;
    EXPECT_TRUE(absl::StrContains(r.err, "3 warnings found:")) << mode << r.err;
    EXPECT_TRUE(absl::StrContains(
        r.err,
        " - JSONArgsRecommended: JSON arguments recommended for CMD to prevent unintended "
        "behavior related to OS signals (Dockerfile:3)"))
        << mode << r.err;
  }
  ProcessResult r = Kiln({"build", "--progress", "rawjson", ctx});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  int warnings = 0;
  for (absl::string_view line : absl::StrSplit(r.err, '\n')) {
    nlohmann::json j = nlohmann::json::parse(std::string(line), nullptr, false);
    if (!j.is_object() || j.value("kind", "") != "warning") continue;
    ++warnings;
    if (j["rule"] == "StageNameCasing") {
      EXPECT_EQ(j["line"], 1);
      EXPECT_EQ(j["file"], "Dockerfile");
      EXPECT_EQ(j["url"], "https://docs.docker.com/go/dockerfile/rule/stage-name-casing/");
    }
  }
  EXPECT_EQ(warnings, 3) << r.err;

  const std::string meta = Out("meta.json");
  r = Kiln({"build", "--progress", "quiet", "--metadata-file", meta, ctx});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  nlohmann::json doc = nlohmann::json::parse(ReadFile(meta), nullptr, false);
  ASSERT_TRUE(doc.is_object()) << ReadFile(meta);
  ASSERT_EQ(doc["kiln.build.warnings"].size(), 3u) << doc.dump();
  EXPECT_EQ(doc["kiln.build.warnings"][2]["rule"], "JSONArgsRecommended");
  EXPECT_EQ(doc["kiln.build.warnings"][2]["line"], 3);
}

TEST_F(BuildChecksTest, ErrorTrueFailsBeforeAnyStep) {
  const std::string ctx =
      Dir("ctx", {{"Dockerfile", std::string("# check=error=true\n") + kTwoWarnings}});
  ProcessResult r = Kiln({"build", "--progress", "plain", ctx});
  EXPECT_NE(r.exit_code, 0) << r.err;
  EXPECT_TRUE(absl::StrContains(
      r.err, "lint violation found for rules: StageNameCasing, FromAsCasing, JSONArgsRecommended"))
      << r.err;
  EXPECT_FALSE(absl::StrContains(r.err, "RUN echo built")) << r.err;
  // The build arg replaces the directive: skip two rules, and the third is not an error.
  r = Kiln({"build", "--progress", "plain", "--build-arg",
            "BUILDKIT_DOCKERFILE_CHECK=skip=StageNameCasing,FromAsCasing", ctx});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(absl::StrContains(r.err, "1 warning found:")) << r.err;
  EXPECT_FALSE(absl::StrContains(r.err, "was not consumed")) << r.err;
}

TEST_F(BuildChecksTest, SkipAllAndABadDirective) {
  const std::string ctx =
      Dir("ctx", {{"Dockerfile", std::string("# check=skip=all\n") + kTwoWarnings}});
  ProcessResult r = Kiln({"build", "--check", "--progress", "quiet", ctx});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(absl::StrContains(r.out, "no warnings found")) << r.out;
  const std::string bad = Dir("bad", {{"Dockerfile", "# check=skip\nFROM busybox:1.35\n"}});
  r = Kiln({"build", "--progress", "plain", bad});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_TRUE(absl::StrContains(r.err, "Dockerfile:1: check directive: invalid check option"))
      << r.err;
}

}  // namespace
}  // namespace kiln::testing
