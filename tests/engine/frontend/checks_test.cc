// Build checks (engine/frontend/checks.h): each rule fires where BuildKit's does and stays
// quiet on the corrected Dockerfile; configuration by directive, build arg and comments.
#include "engine/frontend/checks.h"

#include <algorithm>

#include "engine/frontend/lower.h"
#include "gtest/gtest.h"
#include "tests/engine/frontend/fake_image_resolver.h"

namespace kiln::engine {
namespace {

// The "Rule: message (file:line)" lines of lowering `df` (which must succeed).
std::vector<std::string> Checks(std::string_view df, LowerOptions opt = {}) {
  absl::StatusOr<LoweredBuild> b = Lower(df, opt);
  EXPECT_TRUE(b.ok()) << b.status();
  std::vector<std::string> out;
  if (!b.ok()) return out;
  for (const CheckWarning& w : b->checks) out.push_back(w.Short());
  return out;
}

// Only the lines of `rule`.
std::vector<std::string> Rule(std::string_view rule, std::string_view df, LowerOptions opt = {}) {
  std::vector<std::string> all = Checks(df, opt), out;
  for (const std::string& s : all) {
    if (s.rfind(std::string(rule) + ":", 0) == 0) out.push_back(s);
  }
  return out;
}

using Lines = std::vector<std::string>;

TEST(BuildChecksTest, CleanDockerfileHasNone) {
  EXPECT_EQ(Checks("FROM busybox:1.35 AS base\n"
                   "ARG VERSION=1\n"
                   "ENV APP_HOME=/app\n"
                   "WORKDIR /app\n"
                   "COPY . .\n"
                   "RUN echo $VERSION\n"
                   "EXPOSE 8080/tcp\n"
                   "CMD [\"sh\"]\n"),
            Lines{});
}

TEST(BuildChecksTest, StageNameCasing) {
  EXPECT_EQ(Rule("StageNameCasing", "FROM busybox:1.35 AS Builder\n"),
            Lines{"StageNameCasing: Stage name 'Builder' should be lowercase (Dockerfile:1)"});
  EXPECT_EQ(Rule("StageNameCasing", "FROM busybox:1.35 AS builder\n"), Lines{});
}

TEST(BuildChecksTest, FromAsCasing) {
  EXPECT_EQ(Rule("FromAsCasing", "FROM busybox:1.35 as b\n"),
            Lines{"FromAsCasing: 'as' and 'FROM' keywords' casing do not match (Dockerfile:1)"});
  EXPECT_EQ(Rule("FromAsCasing", "from busybox:1.35 AS b\n"),
            Lines{"FromAsCasing: 'AS' and 'from' keywords' casing do not match (Dockerfile:1)"});
  EXPECT_EQ(Rule("FromAsCasing", "from busybox:1.35 as b\nFROM busybox:1.35 AS c\n"), Lines{});
  // A FROM of mixed case is ConsistentInstructionCasing's business, not this rule's.
  EXPECT_EQ(Rule("FromAsCasing", "From busybox:1.35 as b\n"), Lines{});
}

TEST(BuildChecksTest, NoEmptyContinuation) {
  EXPECT_EQ(Rule("NoEmptyContinuation", "FROM busybox:1.35\nRUN echo a \\\n\n  b\n"),
            Lines{"NoEmptyContinuation: Empty continuation line (Dockerfile:4)"});
  EXPECT_EQ(Rule("NoEmptyContinuation", "FROM busybox:1.35\nRUN echo a \\\n  b\n"), Lines{});
}

TEST(BuildChecksTest, ConsistentInstructionCasing) {
  EXPECT_EQ(Rule("ConsistentInstructionCasing", "FROM busybox:1.35\nrun true\nRUN true\n"),
            Lines{"ConsistentInstructionCasing: Command 'run' should match the case of the "
                  "command majority (uppercase) (Dockerfile:2)"});
  EXPECT_EQ(Rule("ConsistentInstructionCasing", "from busybox:1.35\nrun true\nRun true\n"),
            Lines{"ConsistentInstructionCasing: Command 'Run' should match the case of the "
                  "command majority (lowercase) (Dockerfile:3)"});
  EXPECT_EQ(Rule("ConsistentInstructionCasing", "from busybox:1.35\nrun true\n"), Lines{});
}

TEST(BuildChecksTest, DuplicateAndReservedStageNames) {
  EXPECT_EQ(Rule("DuplicateStageName",
                 "FROM busybox:1.35 AS a\nFROM busybox:1.35 AS a\nFROM busybox:1.35\n"),
            Lines{"DuplicateStageName: Duplicate stage name \"a\", stage names should be unique "
                  "(Dockerfile:2)"});
  EXPECT_EQ(Rule("ReservedStageName", "FROM busybox:1.35 AS scratch\nFROM busybox:1.35\n"),
            Lines{"ReservedStageName: Stage name should not use the same name as reserved stage "
                  "\"scratch\" (Dockerfile:1)"});
  EXPECT_EQ(Rule("ReservedStageName", "FROM busybox:1.35 AS context\nFROM busybox:1.35\n").size(),
            1u);
  EXPECT_EQ(Checks("FROM busybox:1.35 AS a\nFROM busybox:1.35 AS b\n"), Lines{});
}

TEST(BuildChecksTest, JSONArgsRecommended) {
  EXPECT_EQ(Rule("JSONArgsRecommended", "FROM busybox:1.35\nCMD echo hi\n"),
            Lines{"JSONArgsRecommended: JSON arguments recommended for CMD to prevent unintended "
                  "behavior related to OS signals (Dockerfile:2)"});
  EXPECT_EQ(Rule("JSONArgsRecommended", "FROM busybox:1.35\nENTRYPOINT echo hi\n").size(), 1u);
  EXPECT_EQ(Rule("JSONArgsRecommended", "FROM busybox:1.35\nCMD [\"echo\", \"hi\"]\n"), Lines{});
  // An explicit SHELL means the shell form is intended.
  EXPECT_EQ(
      Rule("JSONArgsRecommended", "FROM busybox:1.35\nSHELL [\"/bin/sh\", \"-c\"]\nCMD echo\n"),
      Lines{});
}

TEST(BuildChecksTest, MaintainerDeprecated) {
  EXPECT_EQ(Rule("MaintainerDeprecated", "FROM busybox:1.35\nMAINTAINER me\n"),
            Lines{"MaintainerDeprecated: Maintainer instruction is deprecated in favor of using "
                  "label (Dockerfile:2)"});
  EXPECT_EQ(Rule("MaintainerDeprecated",
                 "FROM busybox:1.35\nLABEL org.opencontainers.image.authors=me\n"),
            Lines{});
}

TEST(BuildChecksTest, UndefinedArgInFrom) {
  // (${TAG} expands to nothing, so the image stays one the fake resolver knows.)
  EXPECT_EQ(Rule("UndefinedArgInFrom", "FROM busybox${TAG}:1.35\n"),
            Lines{"UndefinedArgInFrom: FROM argument 'TAG' is not declared (Dockerfile:1)"});
  EXPECT_EQ(Rule("UndefinedArgInFrom", "ARG TAGS=1.35\nFROM busybox${TAG}:1.35\n"),
            Lines{"UndefinedArgInFrom: FROM argument 'TAG' is not declared (did you mean TAGS?) "
                  "(Dockerfile:2)"});
  // Declared without a value, or predefined: fine.
  LowerOptions opt;
  opt.build_args = {{"TAG", "1.35"}};
  EXPECT_EQ(Rule("UndefinedArgInFrom", "ARG TAG\nFROM busybox:${TAG}\n", opt), Lines{});
  EXPECT_EQ(Rule("UndefinedArgInFrom", "FROM --platform=$BUILDPLATFORM busybox:1.35\n"), Lines{});
}

TEST(BuildChecksTest, WorkdirRelativePath) {
  EXPECT_EQ(
      Rule("WorkdirRelativePath", "FROM busybox:1.35\nWORKDIR app\n"),
      Lines{"WorkdirRelativePath: Relative workdir \"app\" can have unexpected results if the "
            "base image changes (Dockerfile:2)"});
  EXPECT_EQ(Rule("WorkdirRelativePath", "FROM busybox:1.35\nWORKDIR /srv\nWORKDIR app\n"), Lines{});
  // An absolute WORKDIR in the base stage counts.
  EXPECT_EQ(Rule("WorkdirRelativePath",
                 "FROM busybox:1.35 AS base\nWORKDIR /srv\nFROM base\nWORKDIR app\n"),
            Lines{});
}

TEST(BuildChecksTest, UndefinedVar) {
  EXPECT_EQ(Rule("UndefinedVar", "FROM busybox:1.35\nCOPY $SRC /dst\n"),
            Lines{"UndefinedVar: Usage of undefined variable '$SRC' (Dockerfile:2)"});
  EXPECT_EQ(Rule("UndefinedVar", "FROM busybox:1.35\nENV APP_DIR=/a\nWORKDIR $APP_DIRS\n"),
            Lines{"UndefinedVar: Usage of undefined variable '$APP_DIRS' (did you mean $APP_DIR?) "
                  "(Dockerfile:3)"});
  // Declared ARGs (even without a value) and ENV are defined; RUN is never expanded.
  EXPECT_EQ(Rule("UndefinedVar", "FROM busybox:1.35\nARG SRC\nCOPY $SRC /dst\nRUN echo $NOPE\n"),
            Lines{});
}

TEST(BuildChecksTest, MultipleInstructionsDisallowed) {
  // Reported at the instruction that will be ignored.
  EXPECT_EQ(Rule("MultipleInstructionsDisallowed",
                 "FROM busybox:1.35\nCMD [\"a\"]\nCMD [\"b\"]\nHEALTHCHECK NONE\n"),
            Lines{"MultipleInstructionsDisallowed: Multiple CMD instructions should not be used in "
                  "the same stage because only the last one will be used (Dockerfile:2)"});
  EXPECT_EQ(Rule("MultipleInstructionsDisallowed",
                 "FROM busybox:1.35 AS a\nCMD [\"a\"]\nFROM a\nCMD [\"b\"]\n"),
            Lines{});
}

TEST(BuildChecksTest, LegacyKeyValueFormat) {
  EXPECT_EQ(Rule("LegacyKeyValueFormat", "FROM busybox:1.35\nENV A b\nLABEL k v\n"),
            (Lines{"LegacyKeyValueFormat: \"ENV key=value\" should be used instead of legacy "
                   "\"ENV key value\" format (Dockerfile:2)",
                   "LegacyKeyValueFormat: \"LABEL key=value\" should be used instead of legacy "
                   "\"LABEL key value\" format (Dockerfile:3)"}));
  EXPECT_EQ(Rule("LegacyKeyValueFormat", "FROM busybox:1.35\nENV A=b\nLABEL k=v\n"), Lines{});
}

TEST(BuildChecksTest, RedundantTargetPlatformAndConstPlatform) {
  EXPECT_EQ(Rule("RedundantTargetPlatform", "FROM --platform=$TARGETPLATFORM busybox:1.35\n"),
            Lines{"RedundantTargetPlatform: Setting platform to predefined $TARGETPLATFORM in FROM "
                  "is redundant as this is the default behavior (Dockerfile:1)"});
  EXPECT_EQ(Rule("RedundantTargetPlatform", "FROM --platform=$BUILDPLATFORM busybox:1.35\n"),
            Lines{});
  EXPECT_EQ(Rule("FromPlatformFlagConstDisallowed", "FROM --platform=linux/amd64 busybox:1.35\n"),
            Lines{"FromPlatformFlagConstDisallowed: FROM --platform flag should not use constant "
                  "value \"linux/amd64\" (Dockerfile:1)"});
  // A stage named for its platform is allowed.
  EXPECT_EQ(Rule("FromPlatformFlagConstDisallowed",
                 "FROM --platform=linux/amd64 busybox:1.35 AS build-amd64\n"),
            Lines{});
}

TEST(BuildChecksTest, SecretsUsedInArgOrEnv) {
  EXPECT_EQ(Rule("SecretsUsedInArgOrEnv",
                 "FROM busybox:1.35\nARG GITHUB_TOKEN\nENV DB_PASSWORD=x\nENV PUBLIC_KEY=y\n"
                 "ENV MONKEY=z\n"),
            (Lines{"SecretsUsedInArgOrEnv: Do not use ARG or ENV instructions for sensitive data "
                   "(ARG \"GITHUB_TOKEN\") (Dockerfile:2)",
                   "SecretsUsedInArgOrEnv: Do not use ARG or ENV instructions for sensitive data "
                   "(ENV \"DB_PASSWORD\") (Dockerfile:3)"}));
}

TEST(BuildChecksTest, InvalidDefaultArgInFrom) {
  LowerOptions opt;
  opt.build_args = {{"IMAGE", "busybox:1.35"}};
  EXPECT_EQ(Rule("InvalidDefaultArgInFrom", "ARG IMAGE\nFROM $IMAGE\n", opt),
            Lines{"InvalidDefaultArgInFrom: Default value for ARG $IMAGE results in empty or "
                  "invalid base image name (Dockerfile:2)"});
  EXPECT_EQ(Rule("InvalidDefaultArgInFrom", "ARG IMAGE=busybox:1.35\nFROM $IMAGE\n"), Lines{});
}

TEST(BuildChecksTest, CopyIgnoredFile) {
  LowerOptions opt;
  opt.context_excludes = {"secret.txt", "build"};
  EXPECT_EQ(
      Rule("CopyIgnoredFile", "FROM busybox:1.35\nCOPY secret.txt build/x /d/\nADD ok /\n", opt),
      (Lines{"CopyIgnoredFile: Attempting to Copy file \"secret.txt\" that is excluded by "
             ".dockerignore (Dockerfile:2)",
             "CopyIgnoredFile: Attempting to Copy file \"build/x\" that is excluded by "
             ".dockerignore (Dockerfile:2)"}));
  // With an exception pattern BuildKit does not judge statically.
  opt.context_excludes = {"secret.txt", "!keep"};
  EXPECT_EQ(Rule("CopyIgnoredFile", "FROM busybox:1.35\nCOPY secret.txt /d/\n", opt), Lines{});
  // --from copies are not from the context.
  opt.context_excludes = {"secret.txt"};
  EXPECT_EQ(Rule("CopyIgnoredFile",
                 "FROM busybox:1.35 AS a\nFROM busybox:1.35\nCOPY --from=a secret.txt /d/\n", opt),
            Lines{});
}

TEST(BuildChecksTest, ExposeRules) {
  EXPECT_EQ(Rule("ExposeProtoCasing", "FROM busybox:1.35\nEXPOSE 80/TCP\n"),
            Lines{"ExposeProtoCasing: Defined protocol '80/TCP' in EXPOSE instruction should be "
                  "lowercase (Dockerfile:2)"});
  EXPECT_EQ(Rule("ExposeInvalidFormat", "FROM busybox:1.35\nEXPOSE 127.0.0.1:80:80\n"),
            Lines{"ExposeInvalidFormat: EXPOSE instruction should not define an IP address or "
                  "host-port mapping, found '127.0.0.1:80:80' (Dockerfile:2)"});
  EXPECT_EQ(Rule("ExposeInvalidFormat", "FROM busybox:1.35\nEXPOSE 8080:80\n").size(), 1u);
  EXPECT_EQ(Checks("FROM busybox:1.35\nEXPOSE 80/udp 443\n"), Lines{});
}

TEST(BuildChecksTest, InvalidDefinitionDescriptionIsExperimental) {
  const char* df =
      "# check=experimental=InvalidDefinitionDescription\n"
      "# the version to build\n"
      "ARG VERSION=1\n"
      "# the image everything starts from\n"
      "FROM busybox:1.35 AS base\n";
  EXPECT_EQ(Rule("InvalidDefinitionDescription", df),
            (Lines{"InvalidDefinitionDescription: Comment for ARG should follow the format: "
                   "`# VERSION <description>` (Dockerfile:3)",
                   "InvalidDefinitionDescription: Comment for FROM should follow the format: "
                   "`# base <description>` (Dockerfile:5)"}));
  // Off by default; quiet on correct descriptions.
  EXPECT_EQ(Rule("InvalidDefinitionDescription", "# x\nARG VERSION=1\nFROM busybox:1.35\n"),
            Lines{});
  EXPECT_EQ(Rule("InvalidDefinitionDescription",
                 "# check=experimental=all\n# VERSION the version\nARG VERSION=1\n"
                 "# base the base\nFROM busybox:1.35 AS base\n"),
            Lines{});
}

TEST(BuildChecksTest, OnlyReachableStagesGetLoweringChecks) {
  // Parse-level rules see every stage; lowering rules only the stages the target needs.
  std::vector<std::string> c =
      Checks("FROM busybox:1.35 AS Unused\nCMD echo unused\nFROM busybox:1.35\nCMD [\"x\"]\n");
  EXPECT_EQ(c, Lines{"StageNameCasing: Stage name 'Unused' should be lowercase (Dockerfile:1)"});
}

TEST(BuildChecksConfigTest, DirectiveSkipsRules) {
  EXPECT_EQ(Checks("# check=skip=JSONArgsRecommended,MaintainerDeprecated\n"
                   "FROM busybox:1.35\nMAINTAINER me\nCMD echo\n"),
            Lines{});
  EXPECT_EQ(Checks("# check=skip=all\nFROM busybox:1.35 AS X\nCMD echo\n"), Lines{});
  EXPECT_EQ(
      Checks("# check=skip=MaintainerDeprecated\nFROM busybox:1.35\nMAINTAINER me\nCMD echo\n")
          .size(),
      1u);
}

TEST(BuildChecksConfigTest, ErrorTrueFailsOnlyWithAWarning) {
  absl::StatusOr<LoweredBuild> b = Lower("# check=error=true\nFROM busybox:1.35\nCMD echo\n");
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_TRUE(b->checks_fail);
  EXPECT_EQ(CheckViolation(b->checks).message(),
            "lint violation found for rules: JSONArgsRecommended");
  absl::StatusOr<LoweredBuild> clean =
      Lower("# check=error=true\nFROM busybox:1.35\nCMD [\"x\"]\n");
  ASSERT_TRUE(clean.ok());
  EXPECT_FALSE(clean->checks_fail);
}

TEST(BuildChecksConfigTest, BuildArgReplacesTheDirective) {
  LowerOptions opt;
  opt.build_args = {{"BUILDKIT_DOCKERFILE_CHECK", "skip=JSONArgsRecommended"}};
  absl::StatusOr<LoweredBuild> b =
      Lower("# check=error=true\nFROM busybox:1.35\nCMD echo\nMAINTAINER m\n", opt);
  ASSERT_TRUE(b.ok()) << b.status();
  ASSERT_EQ(b->checks.size(), 1u);
  EXPECT_EQ(b->checks[0].rule, "MaintainerDeprecated");
  EXPECT_FALSE(b->checks_fail);                        // the directive's error=true was replaced
  EXPECT_TRUE(b->warnings.empty()) << b->warnings[0];  // the build arg counts as consumed
}

TEST(BuildChecksConfigTest, CommentAboveAnInstructionSkipsThere) {
  EXPECT_EQ(Checks("FROM busybox:1.35\n# check=skip=JSONArgsRecommended\nCMD echo\n"
                   "ENTRYPOINT echo\n"),
            Lines{"JSONArgsRecommended: JSON arguments recommended for ENTRYPOINT to prevent "
                  "unintended behavior related to OS signals (Dockerfile:4)"});
}

TEST(BuildChecksConfigTest, BadConfigIsAClearError) {
  absl::StatusOr<LoweredBuild> b = Lower("# check=skip\nFROM busybox:1.35\n");
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.status().message(),
            "Dockerfile:1: check directive: invalid check option \"skip\": expected "
            "skip=RULE,..., error=true|false or experimental=RULE,...");
  LowerOptions opt;
  opt.build_args = {{"BUILDKIT_DOCKERFILE_CHECK", "error=maybe"}};
  b = Lower("FROM busybox:1.35\n", opt);
  ASSERT_FALSE(b.ok());
  EXPECT_NE(b.status().message().find("BUILDKIT_DOCKERFILE_CHECK"), std::string_view::npos);
  EXPECT_NE(b.status().message().find("expected error=true or error=false"),
            std::string_view::npos);
}

TEST(BuildChecksConfigTest, ParseCheckConfig) {
  absl::StatusOr<CheckConfig> c = ParseCheckConfig(" skip = A, B ; error=true;experimental=all ");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->skip, (std::vector<std::string>{"A", "B"}));
  EXPECT_TRUE(c->error);
  EXPECT_TRUE(c->experimental_all);
  EXPECT_FALSE(ParseCheckConfig("bogus=1").ok());
  EXPECT_TRUE(ParseCheckConfig("").ok());
}

TEST(BuildChecksTest, EveryRuleHasADocumentationUrl) {
  for (const CheckRule& r : AllCheckRules()) {
    EXPECT_EQ(r.Url().rfind("https://docs.docker.com/go/dockerfile/rule/", 0), 0u) << r.name;
  }
  EXPECT_EQ(FindCheckRule("JSONArgsRecommended")->Url(),
            "https://docs.docker.com/go/dockerfile/rule/json-args-recommended/");
}

}  // namespace
}  // namespace kiln::engine
