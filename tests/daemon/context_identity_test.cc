// Builds from different context directories through one kilnd never see each other's files:
// the local source is identified by its directory, so neither the solver's single-flight nor
// any cache hands one build the other's context. Content-keyed cache hits across directories
// with identical files still happen. ROOTLESS: also as kiln-test against a rootless kilnd.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/daemon/kilnd_fixture.h"
#include "tests/daemon/test_util.h"

namespace kiln::testing {
namespace {

class ContextIdentityTest : public KilndFixture {
 protected:
  void SetUp() override { StartKilnd(); }

  std::string Out(const std::string& name) { return dir_.path() + "/" + name; }

  // A context `name` whose a.txt holds `content`, with a Dockerfile that first runs a step
  // unique to `round` (long enough for a second build to start meanwhile), then copies a.txt.
  std::string Context(const std::string& name, const std::string& content, int round) {
    return Dir(name, {{"Dockerfile", absl::StrCat("FROM busybox:1.35\nRUN echo ", round,
                                                  " > /round && sleep 2\nCOPY a.txt /\n")},
                      {"a.txt", content}});
  }

  // Gives both contexts' a.txt (and the contexts themselves) the same mtime.
  static void SameMtime(const std::vector<std::string>& contexts) {
    const struct timespec times[2] = {{1'700'000'000, 0}, {1'700'000'000, 0}};
    for (const std::string& ctx : contexts) {
      for (const std::string& p : {ctx + "/a.txt", ctx + "/Dockerfile", ctx}) {
        ASSERT_EQ(utimensat(AT_FDCWD, p.c_str(), times, AT_SYMLINK_NOFOLLOW), 0) << p;
      }
    }
  }

  std::vector<std::string> BuildArgs(const std::string& ctx, const std::string& out,
                                     const std::string& meta) {
    return Kilnctl({"build", "--progress", "plain", "--metadata-file", meta, "--output",
                    "type=local,dest=" + out, ctx});
  }

  // Whether the step whose name contains `what` was cached, from a metadata file.
  static bool Cached(const std::string& meta, const std::string& what) {
    nlohmann::json doc = nlohmann::json::parse(ReadFile(meta), nullptr, false);
    if (doc.is_object() && doc.contains("kiln.build.steps")) {
      for (const auto& s : doc["kiln.build.steps"]) {
        if (absl::StrContains(s["name"].get<std::string>(), what)) return s["cached"].get<bool>();
      }
    }
    ADD_FAILURE() << "no step " << what << " in " << ReadFile(meta);
    return false;
  }

  // Two builds started together, from contexts holding a.txt of the same size and different
  // content; each image must hold its own context's file.
  void Concurrent(int round, bool same_mtime) {
    const std::string tag = absl::StrCat(round);
    const std::string a = Context("ctxA" + tag, "AAA" + tag, round);
    const std::string b = Context("ctxB" + tag, "BBB" + tag, round);
    if (same_mtime) SameMtime({a, b});
    Child first = Child::Start(BuildArgs(a, Out("outA" + tag), Out("metaA" + tag)));
    absl::SleepFor(absl::Milliseconds(300));  // the first build is in its RUN by now
    Child second = Child::Start(BuildArgs(b, Out("outB" + tag), Out("metaB" + tag)));
    ProcessResult ra = first.Wait(absl::Seconds(300));
    ProcessResult rb = second.Wait(absl::Seconds(300));
    ASSERT_EQ(ra.exit_code, 0) << ra.err;
    ASSERT_EQ(rb.exit_code, 0) << rb.err;
    EXPECT_EQ(ReadFile(Out("outA" + tag + "/a.txt")), "AAA" + tag);
    EXPECT_EQ(ReadFile(Out("outB" + tag + "/a.txt")), "BBB" + tag)
        << "the second build got the first build's context";
  }
};

TEST_F(ContextIdentityTest, ConcurrentBuildsFromDifferentContexts) {
  for (int round = 1; round <= 2; ++round) {
    SCOPED_TRACE(round);
    Concurrent(round, false);
  }
}

TEST_F(ContextIdentityTest, ConcurrentBuildsFromDifferentContextsWithTheSameMtime) {
  for (int round = 1; round <= 2; ++round) {
    SCOPED_TRACE(round);
    Concurrent(round, true);
  }
}

// One after the other, with the same mtimes: the second build copies its own file, and a
// third context with the first one's bytes is a cache hit (the key is the content).
TEST_F(ContextIdentityTest, SequentialBuildsKeyOnContentNotOnTheName) {
  const std::string a = Context("seqA", "AAA3", 7);
  const std::string b = Context("seqB", "BBB3", 7);
  const std::string c = Context("seqC", "AAA3", 7);
  SameMtime({a, b, c});
  for (const auto& [ctx, name] :
       std::vector<std::pair<std::string, std::string>>{{a, "A"}, {b, "B"}, {c, "C"}}) {
    ProcessResult r = kiln::testing::Run(BuildArgs(ctx, Out("seq" + name), Out("seqmeta" + name)),
                                         {}, absl::Seconds(300));
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  EXPECT_EQ(ReadFile(Out("seqA/a.txt")), "AAA3");
  EXPECT_EQ(ReadFile(Out("seqB/a.txt")), "BBB3");
  EXPECT_EQ(ReadFile(Out("seqC/a.txt")), "AAA3");
  EXPECT_FALSE(Cached(Out("seqmetaB"), "COPY a.txt /"));
  EXPECT_TRUE(Cached(Out("seqmetaC"), "COPY a.txt /"))
      << "identical content from another directory should hit the content-keyed cache";
}

// The same directory path, its contents replaced by a same-size, same-mtime file of other
// bytes between two builds: the second build copies the new bytes.
TEST_F(ContextIdentityTest, ReplacedFileAtTheSamePath) {
  const std::string ctx = Context("same", "AAA5", 9);
  SameMtime({ctx});
  ProcessResult r1 =
      kiln::testing::Run(BuildArgs(ctx, Out("same1"), Out("samemeta1")), {}, absl::Seconds(300));
  ASSERT_EQ(r1.exit_code, 0) << r1.err;
  // Another file renamed over a.txt (a new inode), then the same mtime again.
  WriteFile(ctx + "/a.new", "BBB5");
  ASSERT_EQ(rename((ctx + "/a.new").c_str(), (ctx + "/a.txt").c_str()), 0);
  SameMtime({ctx});
  ProcessResult r2 =
      kiln::testing::Run(BuildArgs(ctx, Out("same2"), Out("samemeta2")), {}, absl::Seconds(300));
  ASSERT_EQ(r2.exit_code, 0) << r2.err;
  EXPECT_EQ(ReadFile(Out("same1/a.txt")), "AAA5");
  EXPECT_EQ(ReadFile(Out("same2/a.txt")), "BBB5");
}

}  // namespace
}  // namespace kiln::testing
