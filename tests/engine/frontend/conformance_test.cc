// Walks /work/shared/conformance/dockerfile (KILN_SHARED_DIR) at runtime: every case found
// there is checked, so new cases need no code change.
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "engine/frontend/parser.h"
#include "engine/frontend/shell_lexer.h"
#include "gtest/gtest.h"

namespace kiln::engine {
namespace {

namespace fs = std::filesystem;

fs::path ConformanceDir() {
  const char* shared = std::getenv("KILN_SHARED_DIR");
  if (shared == nullptr || *shared == '\0') {
    ADD_FAILURE() << "KILN_SHARED_DIR is not set: the conformance data cannot be found";
    return {};
  }
  fs::path dir = fs::path(shared) / "conformance" / "dockerfile";
  if (!fs::is_directory(dir)) ADD_FAILURE() << "missing conformance directory " << dir;
  return dir;
}

std::string ReadFile(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<fs::path> SortedSubdirs(const fs::path& dir) {
  std::vector<fs::path> out;
  if (!fs::is_directory(dir)) return out;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.is_directory()) out.push_back(e.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string Trim(std::string s) {
  const char* ws = " \t\r\n\v\f";
  size_t b = s.find_first_not_of(ws);
  if (b == std::string::npos) return "";
  size_t e = s.find_last_not_of(ws);
  return s.substr(b, e - b + 1);
}

std::string TrimLeft(std::string s) {
  size_t b = s.find_first_not_of(" \t");
  return b == std::string::npos ? "" : s.substr(b);
}

struct Tally {
  int passed = 0;
  int total = 0;
};

TEST(ConformanceTest, AllFolders) {
  fs::path dir = ConformanceDir();
  ASSERT_FALSE(dir.empty());
  Tally parser, negative, lines, env_var, words;

  for (const fs::path& c : SortedSubdirs(dir / "parser")) {
    ++parser.total;
    absl::StatusOr<Ast> ast = ParseDockerfile(ReadFile(c / "Dockerfile"), "Dockerfile");
    if (!ast.ok()) {
      ADD_FAILURE() << c.filename() << ": " << ast.status();
      continue;
    }
    std::string got = DumpAst(*ast);
    std::string want = ReadFile(c / "result");
    EXPECT_EQ(got, want) << "parser case " << c.filename();
    if (got == want) ++parser.passed;
  }
  EXPECT_GT(parser.total, 0) << "no parser cases found under " << dir / "parser";

  for (const fs::path& c : SortedSubdirs(dir / "parser-negative")) {
    ++negative.total;
    absl::StatusOr<Ast> ast = ParseDockerfile(ReadFile(c / "Dockerfile"), "Dockerfile");
    EXPECT_FALSE(ast.ok()) << "negative case parsed: " << c.filename();
    if (!ast.ok()) {
      EXPECT_EQ(ast.status().code(), absl::StatusCode::kInvalidArgument);
      EXPECT_EQ(std::string(ast.status().message()).rfind("Dockerfile:", 0), 0u)
          << ast.status();
      ++negative.passed;
    }
  }
  EXPECT_GT(negative.total, 0);

  {
    fs::path f = dir / "parser-line" / "Dockerfile";
    ASSERT_TRUE(fs::exists(f)) << f;
    absl::StatusOr<Ast> ast = ParseDockerfile(ReadFile(f), "Dockerfile");
    ASSERT_TRUE(ast.ok()) << ast.status();
    const std::vector<std::pair<int, int>> want = {{5, 5}, {11, 12}, {17, 31}};
    ASSERT_EQ(ast->nodes.size(), want.size());
    for (size_t i = 0; i < want.size(); ++i) {
      ++lines.total;
      EXPECT_EQ(ast->nodes[i].start_line, want[i].first) << "node " << i;
      EXPECT_EQ(ast->nodes[i].end_line, want[i].second) << "node " << i;
      if (ast->nodes[i].start_line == want[i].first && ast->nodes[i].end_line == want[i].second) {
        ++lines.passed;
      }
    }
  }

  {
    std::vector<std::string> env = {"PWD=/home", "SHELL=bash", "KOREAN=한국어", "NULL="};
    std::istringstream in(ReadFile(dir / "shell" / "envVarTest"));
    ShellLexer lex;
    std::string line;
    while (std::getline(in, line)) {
      if (line.empty() || line[0] == '#' || Trim(line).empty()) continue;
      line = Trim(line);
      std::vector<std::string> f;
      std::stringstream ls(line);
      for (std::string part; std::getline(ls, part, '|');) f.push_back(Trim(part));
      if (line.back() == '|') f.push_back("");
      ASSERT_EQ(f.size(), 3u) << "bad envVarTest line: " << line;
      if (f[0] == "W") continue;
      ++env_var.total;
      absl::StatusOr<std::string> got = lex.ProcessWord(f[1], EnvFromList(&env));
      bool ok = f[2] == "error" ? !got.ok() : (got.ok() && *got == f[2]);
      EXPECT_TRUE(ok) << "envVarTest: " << line << " -> "
                      << (got.ok() ? *got : std::string(got.status().message()));
      if (ok) ++env_var.passed;
    }
    EXPECT_GT(env_var.total, 0);
  }

  {
    std::vector<std::string> env;
    std::istringstream in(ReadFile(dir / "shell" / "wordsTest"));
    ShellLexer lex;
    std::string line;
    while (std::getline(in, line)) {
      if (line.empty() || line[0] == '#') continue;
      if (line.rfind("ENV ", 0) == 0) {
        env.push_back(TrimLeft(line.substr(4)));
        continue;
      }
      size_t bar = line.find('|');
      ASSERT_NE(bar, std::string::npos) << "bad wordsTest line: " << line;
      std::string input = Trim(line.substr(0, bar));
      std::string expected = TrimLeft(line.substr(bar + 1));
      std::vector<std::string> want;
      std::stringstream es(expected);
      for (std::string w; std::getline(es, w, ',');) want.push_back(w);
      if (!expected.empty() && expected.back() == ',') want.push_back("");
      ++words.total;
      absl::StatusOr<std::vector<std::string>> got = lex.ProcessWords(input, EnvFromList(&env));
      std::vector<std::string> got_words = got.ok() ? *got : std::vector<std::string>{"error"};
      EXPECT_EQ(got_words, want) << "wordsTest: " << line;
      if (got_words == want) ++words.passed;
    }
    EXPECT_GT(words.total, 0);
  }

  std::printf("conformance: parser %d/%d, negative %d/%d, lines %d/%d, envVarTest %d/%d, "
              "wordsTest %d/%d\n",
              parser.passed, parser.total, negative.passed, negative.total, lines.passed,
              lines.total, env_var.passed, env_var.total, words.passed, words.total);
}

}  // namespace
}  // namespace kiln::engine
