#include "engine/frontend/shell_lexer.h"

#include "gtest/gtest.h"

namespace kiln::engine {
namespace {

std::string W(std::string_view in, std::vector<std::string> env = {"V=abcabc", "E=", "P=/a/b/c.tar.gz"},
              ShellLexerOptions opt = {}) {
  absl::StatusOr<std::string> r = ShellLexer(opt).ProcessWord(in, EnvFromList(&env));
  return r.ok() ? *r : "ERR:" + std::string(r.status().message());
}

TEST(ShellLexerTest, PatternRemoval) {
  EXPECT_EQ(W("${P#*/}"), "a/b/c.tar.gz");
  EXPECT_EQ(W("${P##*/}"), "c.tar.gz");
  EXPECT_EQ(W("${P%.*}"), "/a/b/c.tar");
  EXPECT_EQ(W("${P%%.*}"), "/a/b/c");
  EXPECT_EQ(W("${P#nomatch}"), "/a/b/c.tar.gz");
  EXPECT_EQ(W("${V#[ab]}"), "bcabc");
  EXPECT_EQ(W("${V%?}"), "abcab");
  EXPECT_EQ(W("${UNSET#x}"), "");
}

TEST(ShellLexerTest, Replacement) {
  EXPECT_EQ(W("${V/b/X}"), "aXcabc");
  EXPECT_EQ(W("${V//b/X}"), "aXcaXc");
  EXPECT_EQ(W("${V//b*/X}"), "aX");
  EXPECT_EQ(W("${V/nomatch/X}"), "abcabc");
  EXPECT_EQ(W("${V/b}"), "ERR:syntax error: missing '/' in ${}");
}

TEST(ShellLexerTest, DefaultsAndErrors) {
  EXPECT_EQ(W("${E:-d}"), "d");
  EXPECT_EQ(W("${E-d}"), "");
  EXPECT_EQ(W("${E:+a}"), "");
  EXPECT_EQ(W("${E+a}"), "a");
  EXPECT_EQ(W("${E:?must be set}"), "ERR:E: must be set");
  EXPECT_EQ(W("${U?}"), "ERR:U: is not allowed to be unset");
  EXPECT_EQ(W("${#V}"), "ERR:unsupported modifier (V) in substitution");
  EXPECT_EQ(W("${V:=x}"), "ERR:unsupported modifier (:=) in substitution");
  EXPECT_EQ(W("${V:#x}"), "ERR:unsupported modifier (:#) in substitution");
}

TEST(ShellLexerTest, BacktickEscapeAndSkipUnset) {
  ShellLexerOptions bt{.escape = '`'};
  EXPECT_EQ(W("a`$V\\b", {"V=x"}, bt), "a$V\\b");
  ShellLexerOptions skip{.skip_unset_env = true};
  EXPECT_EQ(W("$U ${U} ${U:-x} $V", {"V=1"}, skip), "$U ${U} ${U:-x} 1");
  ShellLexerOptions raw{.skip_process_quotes = true};
  EXPECT_EQ(W("'$V' \"$V\"", {"V=1"}, raw), "'1' \"1\"");
}

TEST(ShellLexerTest, WordsSplitUnquotedExpansions) {
  std::vector<std::string> env = {"S=a  b"};
  absl::StatusOr<std::vector<std::string>> w = ShellLexer().ProcessWords("x$S \"$S\"y", EnvFromList(&env));
  ASSERT_TRUE(w.ok());
  EXPECT_EQ(*w, (std::vector<std::string>{"xa", "b", "a  by"}));
}

TEST(ShellLexerTest, ReferencedNames) {
  EXPECT_EQ(ShellLexer().ReferencedNames("$A ${B:-$C} '$D'"),
            (std::vector<std::string>{"A", "C", "B"}));
}

TEST(ShellLexerTest, GlobMatch) {
  EXPECT_TRUE(ShellPatternMatch("*.go", "main.go"));
  EXPECT_TRUE(ShellPatternMatch("a?c", "abc"));
  EXPECT_TRUE(ShellPatternMatch("[!x]b", "ab"));
  EXPECT_FALSE(ShellPatternMatch("[!a]b", "ab"));
  EXPECT_TRUE(ShellPatternMatch("\\*", "*"));
  EXPECT_FALSE(ShellPatternMatch("\\*", "x"));
  EXPECT_TRUE(ShellPatternMatch("a*b*c", "aXbYbc"));
}

}  // namespace
}  // namespace kiln::engine
