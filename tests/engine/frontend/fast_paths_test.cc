// The frontend's fast paths must give exactly what the general code gives: Go's path.Clean,
// nlohmann's JSON parsing of exec-form arrays, and rune-by-rune word expansion.
#include <string>
#include <vector>

#include "engine/frontend/lower_internal.h"
#include "engine/frontend/parser_internal.h"
#include "engine/frontend/shell_lexer.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace kiln::engine {
namespace {

TEST(CleanPathTest, MatchesGoPathClean) {
  // Expected values are Go's path.Clean results.
  const std::pair<const char*, const char*> cases[] = {
      {"", "."},
      {".", "."},
      {"/", "/"},
      {"//", "/"},
      {"/..", "/"},
      {"/../..", "/"},
      {"..", ".."},
      {"../..", "../.."},
      {"../../x", "../../x"},
      {"a/..", "."},
      {"a/../..", ".."},
      {"a/b/../../..", ".."},
      {"x/../a/..", "."},
      {"../a/..", ".."},
      {"/a/b/../c", "/a/c"},
      {"/a/./b/", "/a/b"},
      {"a//b///c", "a/b/c"},
      {"/work/1/../2/./src/", "/work/2/src"},
      {"abc/def/../../../ghi", "../ghi"},
      {"/a/b/c/../../..", "/"},
      {"./a", "a"},
      {"a/.", "a"},
      {"...", "..."},
      {"/.../..", "/"},
  };
  for (const auto& [in, want] : cases) {
    EXPECT_EQ(internal::CleanPath(in), want) << "CleanPath(\"" << in << "\")";
  }
}

TEST(CleanPathTest, JoinPathKeepsTrailingSlashOnlyWhenAsked) {
  EXPECT_EQ(internal::JoinPath("/work", "src/", true), "/work/src/");
  EXPECT_EQ(internal::JoinPath("/work", "src/", false), "/work/src");
  EXPECT_EQ(internal::JoinPath("/work", "/abs/../x", true), "/x");
  EXPECT_EQ(internal::JoinPath("", "rel", false), "/rel");
  EXPECT_EQ(internal::JoinPath("/work", ".", true), "/work/");
  EXPECT_EQ(internal::JoinPath("/", "./", true), "/");
}

// What the parser must return for `text`: nlohmann's verdict, computed independently.
std::optional<std::vector<std::string>> ReferenceJson(const std::string& text, bool* error) {
  *error = false;
  nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_array()) return std::nullopt;
  std::vector<std::string> out;
  for (const auto& e : j) {
    if (!e.is_string()) {
      *error = true;
      return std::nullopt;
    }
    out.push_back(e.get<std::string>());
  }
  return out;
}

TEST(JsonArrayTest, FastPathAgreesWithNlohmann) {
  const std::string cases[] = {
      R"([])",
      R"([ ])",
      R"(["a"])",
      R"(["a","b"])",
      R"([ "a" , "b" ]  )",
      "[\t\"a\",\r\n\"b\"]",
      R"(["/bin/sh", "-c", "echo hi > /x"])",
      R"(["a",])",
      R"([,"a"])",
      R"(["a" "b"])",
      R"(["a"] x)",
      R"(["a"]])",
      R"(["unterminated)",
      R"(["esc\"aped", "tab\t", "uni\u00e9"])",
      R"(["a", 1])",
      R"(["a", null])",
      R"([["a"]])",
      "[\"caf\xc3\xa9\"]",
      "[\"bad\xff\"]",
      "[\"ctl\x01\"]",
      R"(['single'])",
      R"([)",
  };
  for (const std::string& text : cases) {
    bool want_error = false;
    std::optional<std::vector<std::string>> want = ReferenceJson(text, &want_error);
    absl::StatusOr<std::optional<std::vector<std::string>>> got = internal::ParseJsonArray(text);
    if (want_error) {
      EXPECT_FALSE(got.ok()) << text;
      continue;
    }
    ASSERT_TRUE(got.ok()) << text << ": " << got.status();
    EXPECT_EQ(*got, want) << text;
  }
}

TEST(ShellLexerFastPathTest, LiteralRunsKeepTheirBytes) {
  ShellLexer lex;
  std::vector<std::string> env = {"A=1", "B=two words"};
  const EnvGetter get = EnvFromList(&env);
  const std::pair<std::string, std::string> cases[] = {
      {"plain $A text", "plain 1 text"},
      {"caf\xc3\xa9-$A-\xff\xfe", "caf\xc3\xa9-1-\xff\xfe"},  // UTF-8 and invalid bytes
      {"${B}/x \"q $A\" 'lit $A'", "two words/x q 1 lit $A"},
      {"a\\$A\\\\b", "a$A\\b"},
      {"${A:-x}${C:-y}${B/two/2}", "1y2 words"},
      {"\xe2\x80\x83$A", "\xe2\x80\x83" "1"},  // a non-ASCII space stays as it is
  };
  for (const auto& [in, want] : cases) {
    absl::StatusOr<std::string> got = lex.ProcessWord(in, get);
    ASSERT_TRUE(got.ok()) << in << ": " << got.status();
    EXPECT_EQ(*got, want) << in;
  }
  // Field splitting still happens on unquoted spaces, including non-ASCII ones.
  absl::StatusOr<std::vector<std::string>> words = lex.ProcessWords("x\xe2\x80\x83y $B", get);
  ASSERT_TRUE(words.ok());
  EXPECT_EQ(*words, (std::vector<std::string>{"x", "y", "two", "words"}));
}

}  // namespace
}  // namespace kiln::engine
