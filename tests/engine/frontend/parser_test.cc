#include <random>
#include <string>

#include "engine/frontend/instructions.h"
#include "engine/frontend/parser.h"
#include "gtest/gtest.h"

namespace kiln::engine {
namespace {

std::string Dump(std::string_view df) {
  absl::StatusOr<Ast> ast = ParseDockerfile(df, "Dockerfile");
  if (!ast.ok()) return "ERROR: " + std::string(ast.status().message());
  return DumpAst(*ast);
}

std::string Err(std::string_view df, std::string_view file = "Dockerfile") {
  absl::StatusOr<Dockerfile> d = ParseDockerfileInstructions(df, file);
  if (d.ok()) return "OK";
  EXPECT_EQ(d.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(d.status().message());
}

TEST(ParserTest, DirectivesSetEscapeAndAreNotInstructions) {
  absl::StatusOr<Ast> ast =
      ParseDockerfile("# syntax=docker/dockerfile:1\n# escape=`\n# check=skip=all\nFROM a `\n  AS b\n",
                      "Dockerfile");
  ASSERT_TRUE(ast.ok()) << ast.status();
  EXPECT_EQ(ast->directives.syntax, "docker/dockerfile:1");
  EXPECT_EQ(ast->directives.escape, '`');
  EXPECT_EQ(ast->directives.check, "skip=all");
  EXPECT_EQ(DumpAst(*ast), "(from \"a\" \"AS\" \"b\")\n");
}

TEST(ParserTest, DirectiveAfterInstructionIsAComment) {
  EXPECT_EQ(Dump("FROM a\n# escape=`\nRUN x \\\n y\n"), "(from \"a\")\n(run \"x  y\")\n");
}

TEST(ParserTest, RepeatedOrInvalidDirectiveFails) {
  EXPECT_EQ(Dump("# escape=`\n# escape=\\\nFROM a\n"),
            "ERROR: Dockerfile:2: only one escape parser directive can be used");
  EXPECT_NE(Dump("# escape=x\nFROM a\n").find("Dockerfile:1: invalid escape token 'x'"),
            std::string::npos);
}

TEST(ParserTest, ContinuationsWithCommentsAndEmptyLines) {
  absl::StatusOr<Ast> ast =
      ParseDockerfile("FROM a\nRUN echo 1 \\\n  # comment\n\n  && echo 2\nRUN b\n", "Dockerfile");
  ASSERT_TRUE(ast.ok());
  EXPECT_EQ(DumpAst(*ast), "(from \"a\")\n(run \"echo 1   && echo 2\")\n(run \"b\")\n");
  EXPECT_EQ(ast->nodes[1].start_line, 2);
  EXPECT_EQ(ast->nodes[1].end_line, 5);
  EXPECT_EQ(ast->empty_continuations, std::vector<int>{5});
}

TEST(ParserTest, HeredocsSeveralOnOneLineQuotedAndChomped) {
  absl::StatusOr<Ast> ast = ParseDockerfile(
      "FROM a\nRUN <<EOF cat - <<-'END' > /x\nline $A\nEOF\n\tkeep\n\tEND\nCOPY <<\"F\" /f\nbody\nF\n",
      "Dockerfile");
  ASSERT_TRUE(ast.ok()) << ast.status();
  ASSERT_EQ(ast->nodes.size(), 3u);
  const AstNode& run = ast->nodes[1];
  ASSERT_EQ(run.heredocs.size(), 2u);
  EXPECT_EQ(run.heredocs[0].name, "EOF");
  EXPECT_EQ(run.heredocs[0].content, "line $A\n");
  EXPECT_TRUE(run.heredocs[0].expand);
  EXPECT_EQ(run.heredocs[1].name, "END");
  EXPECT_TRUE(run.heredocs[1].chomp);
  EXPECT_FALSE(run.heredocs[1].expand);
  EXPECT_EQ(run.heredocs[1].content, "\tkeep\n");
  EXPECT_EQ(ChompHeredocContent(run.heredocs[1].content), "keep\n");
  EXPECT_EQ(run.end_line, 6);
  const AstNode& copy = ast->nodes[2];
  ASSERT_EQ(copy.heredocs.size(), 1u);
  EXPECT_EQ(copy.heredocs[0].name, "F");
  EXPECT_FALSE(copy.heredocs[0].expand);
  EXPECT_EQ(copy.start_line, 7);
}

TEST(ParserTest, UnterminatedHeredocNamesLine) {
  EXPECT_EQ(Dump("FROM a\nRUN <<EOF\necho\n"),
            "ERROR: Dockerfile:2: unterminated heredoc: expected a line 'EOF'");
}

TEST(ParserTest, HeredocNotInJsonFormOrOtherInstructions) {
  absl::StatusOr<Ast> ast = ParseDockerfile("FROM a\nRUN [\"<<EOF\"]\nENV A=<<EOF\n", "Dockerfile");
  ASSERT_TRUE(ast.ok());
  EXPECT_TRUE(ast->nodes[1].heredocs.empty());
  EXPECT_TRUE(ast->nodes[2].heredocs.empty());
}

TEST(ParserTest, MaintainerDumpsAsLabel) {
  EXPECT_EQ(Dump("FROM a\nMAINTAINER Jane <j@x>\n"),
            "(from \"a\")\n(label \"maintainer\" \"Jane <j@x>\" \"\")\n");
}

TEST(InstructionsTest, DuplicateStageNameIsAWarning) {
  absl::StatusOr<Dockerfile> d =
      ParseDockerfileInstructions("FROM a AS x\nFROM b AS X\n\nFROM c AS x\n", "Dockerfile.app");
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->stages.size(), 3u);
  std::vector<std::string> found;
  for (const CheckWarning& w : d->checks) found.push_back(w.Short());
  EXPECT_EQ(found,
            (std::vector<std::string>{
                "StageNameCasing: Stage name 'X' should be lowercase (Dockerfile.app:2)",
                "DuplicateStageName: Duplicate stage name \"x\", stage names should be unique "
                "(Dockerfile.app:2)",
                "DuplicateStageName: Duplicate stage name \"x\", stage names should be unique "
                "(Dockerfile.app:4)"}));
}

TEST(InstructionsTest, ErrorsNameFileAndLine) {
  EXPECT_EQ(Err("FROM a\n\nBOGUS x\n", "my.Dockerfile"),
            "my.Dockerfile:3: unknown instruction: BOGUS: expected a Dockerfile instruction "
            "(FROM, RUN, COPY, ...)");
  EXPECT_EQ(Err("FROM a\nCOPY --nope=1 a b\n"),
            "Dockerfile:2: unknown flag --nope on COPY: expected one of --chmod, --chown, "
            "--exclude, --from, --link, --parents");
  EXPECT_EQ(Err("FROM a\nCOPY --from=x --from=y a b\n"),
            "Dockerfile:2: duplicate flag --from on COPY: expected it at most once");
  EXPECT_EQ(Err("FROM a\nCOPY --from a b\n"),
            "Dockerfile:2: missing a value on flag --from of COPY: expected --from=<value>");
  EXPECT_EQ(Err("FROM a\nCOPY onlyone\n"),
            "Dockerfile:2: COPY requires at least two arguments, but only 1 was provided: "
            "expected COPY <src>... <dest>");
  EXPECT_EQ(Err("RUN x\n"),
            "Dockerfile:1: RUN before the first FROM: expected FROM (only ARG may come before it)");
  EXPECT_EQ(Err("FROM a b\n"),
            "Dockerfile:1: FROM requires either one or three arguments: expected FROM <image> "
            "[AS <name>]");
  EXPECT_EQ(Err("FROM a\nSHELL /bin/bash\n"),
            "Dockerfile:2: SHELL requires the arguments to be in JSON form: expected SHELL "
            "[\"executable\", \"parameters\"]");
  EXPECT_EQ(Err("FROM a\nHEALTHCHECK --interval=1x CMD true\n").substr(0, 60),
            "Dockerfile:2: invalid --interval on HEALTHCHECK: time: inval");
  EXPECT_EQ(Err("FROM a\nONBUILD FROM b\n"),
            "Dockerfile:2: FROM isn't allowed as an ONBUILD trigger: expected another instruction");
  EXPECT_EQ(Err("FROM a\nRUN --network=foo x\n"),
            "Dockerfile:2: invalid --network=foo on RUN: expected default, none or host");
  EXPECT_EQ(Err("FROM a\nWORKDIR\n"),
            "Dockerfile:2: WORKDIR requires exactly one argument: expected WORKDIR <path>");
  EXPECT_EQ(Err(""), "Dockerfile:1: file with no instructions: expected at least FROM");
  EXPECT_EQ(Err("FROM a\nENV\n"),
            "Dockerfile:2: ENV requires at least 1 argument: expected ENV <key>=<value> ...");
}

TEST(InstructionsTest, AllInstructionsAndFlagsParse) {
  absl::StatusOr<Dockerfile> d = ParseDockerfileInstructions(
      "ARG BASE=busybox\n"
      "FROM --platform=linux/amd64 ${BASE} AS Build\n"
      "RUN --mount=type=cache,target=/c --mount=type=secret,id=s --network=none "
      "--security=insecure make\n"
      "CMD [\"a\"]\nLABEL a=b c=d\nMAINTAINER me\nEXPOSE 80 443/udp\nENV A=1 B=2\nENV C 3 4\n"
      "ADD --chown=1:2 --chmod=644 --checksum=sha256:abc --keep-git-dir --link --exclude=*.md "
      "https://x/y.tar /d/\n"
      "COPY --from=0 --chown=u --chmod=755 --link --parents --exclude=a --exclude=b s /d\n"
      "ENTRYPOINT x y\nVOLUME [\"/v\", \"/w\"]\nUSER u:g\nWORKDIR /w\nARG X Y=1\nONBUILD RUN hi\n"
      "STOPSIGNAL SIGKILL\n"
      "HEALTHCHECK --interval=5s --timeout=1m30s --start-period=1s --start-interval=2s "
      "--retries=4 CMD curl x\n"
      "SHELL [\"/bin/bash\", \"-c\"]\n",
      "Dockerfile");
  ASSERT_TRUE(d.ok()) << d.status();
  ASSERT_EQ(d->meta_args.size(), 1u);
  ASSERT_EQ(d->stages.size(), 1u);
  const Stage& s = d->stages[0];
  EXPECT_EQ(s.from.stage_name, "build");
  EXPECT_EQ(s.from.platform, "linux/amd64");
  ASSERT_EQ(s.commands.size(), 18u);
  const auto& run = std::get<RunInstr>(s.commands[0].instr);
  EXPECT_EQ(run.mounts.size(), 2u);
  EXPECT_EQ(run.network, "none");
  EXPECT_EQ(run.security, "insecure");
  const auto& env2 = std::get<EnvInstr>(s.commands[6].instr);
  ASSERT_EQ(env2.vars.size(), 1u);
  EXPECT_EQ(env2.vars[0].value, "3 4");
  const auto& add = std::get<CopyInstr>(s.commands[7].instr);
  EXPECT_TRUE(add.is_add && add.keep_git_dir && add.link);
  EXPECT_EQ(add.checksum, "sha256:abc");
  const auto& copy = std::get<CopyInstr>(s.commands[8].instr);
  EXPECT_EQ(copy.from, "0");
  EXPECT_TRUE(copy.parents);
  EXPECT_EQ(copy.excludes, (std::vector<std::string>{"a", "b"}));
  const auto& arg = std::get<ArgInstr>(s.commands[13].instr);
  ASSERT_EQ(arg.args.size(), 2u);
  EXPECT_FALSE(arg.args[0].default_value.has_value());
  EXPECT_EQ(std::get<OnbuildInstr>(s.commands[14].instr).expression, "RUN hi");
  const auto& hc = std::get<HealthcheckInstr>(s.commands[16].instr);
  EXPECT_EQ(hc.test, (std::vector<std::string>{"CMD-SHELL", "curl x"}));
  EXPECT_EQ(hc.timeout_ns, 90'000'000'000);
  EXPECT_EQ(hc.retries, 4);
}

TEST(InstructionsTest, GoDurations) {
  EXPECT_EQ(*ParseGoDuration("1h2m3.5s"), 3723'500'000'000);
  EXPECT_EQ(*ParseGoDuration("250ms"), 250'000'000);
  EXPECT_EQ(*ParseGoDuration("0"), 0);
  EXPECT_FALSE(ParseGoDuration("5").ok());
  EXPECT_FALSE(ParseGoDuration("").ok());
  EXPECT_FALSE(ParseGoDuration("1d").ok());
}

// No input may crash the parser: random byte soup built from Dockerfile-ish fragments.
TEST(ParserTest, RandomInputsNeverCrash) {
  const char* frags[] = {"FROM ", "RUN ", "COPY ", "<<EOF", "\n", "\\", "`", "\"", "'", "[",
                         "]", "--mount=", "# escape=`\n", "ONBUILD ", "${", "}", "$", " AS ",
                         "EOF\n", "\t", "=", ",", "HEALTHCHECK ", "ENV ", "ARG ", "\xff", "\xe2\x99"};
  std::mt19937 rng(12345);
  for (int i = 0; i < 3000; ++i) {
    std::string s;
    int n = static_cast<int>(rng() % 40);
    for (int k = 0; k < n; ++k) s += frags[rng() % (sizeof(frags) / sizeof(frags[0]))];
    absl::StatusOr<Dockerfile> d = ParseDockerfileInstructions(s, "Dockerfile");
    if (!d.ok()) {
      EXPECT_EQ(std::string(d.status().message()).rfind("Dockerfile:", 0), 0u)
          << d.status() << " for input: " << s;
    }
  }
}

}  // namespace
}  // namespace kiln::engine
