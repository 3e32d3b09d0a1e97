// Dockerfile compatibility with BuildKit through kilnctl and a real kilnd (issue 19):
// <Dockerfile>.dockerignore, a .dockerignore symlink, duplicate stage names, MAINTAINER and
// excluded directories (defect 4).
// ROOTLESS: also as kiln-test against a rootless kilnd.
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

bool Exists(const std::string& path) {
  struct stat st;
  return lstat(path.c_str(), &st) == 0;
}

class CompatTest : public KilndFixture {
 protected:
  void SetUp() override { StartKilnd(); }

  // Runs kilnctl build with `args`; returns its result and fills `steps` from the metadata.
  ProcessResult Build(std::vector<std::string> args, nlohmann::json* steps = nullptr,
                      const std::vector<std::string>& extra_env = {}) {
    const std::string meta = dir_.path() + "/meta.json";
    unlink(meta.c_str());
    std::vector<std::string> argv = {"build", "--progress", "plain", "--metadata-file", meta};
    argv.insert(argv.end(), args.begin(), args.end());
    std::vector<std::string> env;
    if (!extra_env.empty()) {
      for (char** e = environ; *e != nullptr; ++e) {
        if (!absl::StartsWith(*e, "SOURCE_DATE_EPOCH=")) env.emplace_back(*e);
      }
      env.insert(env.end(), extra_env.begin(), extra_env.end());
    }
    ProcessResult r = kiln::testing::Run(Kilnctl(argv), env, absl::Seconds(300));
    EXPECT_EQ(r.exit_code, 0) << r.err;
    if (steps != nullptr) {
      nlohmann::json doc = nlohmann::json::parse(ReadFile(meta), nullptr, false);
      *steps = doc.is_object() && doc.contains("kiln.build.steps") ? doc["kiln.build.steps"]
                                                                   : nlohmann::json::array();
    }
    return r;
  }

  // Whether the step whose name contains `what` was cached; fails when there is none.
  static bool Cached(const nlohmann::json& steps, const std::string& what) {
    for (const auto& s : steps) {
      if (absl::StrContains(s["name"].get<std::string>(), what)) return s["cached"].get<bool>();
    }
    ADD_FAILURE() << "no step " << what << " in " << steps.dump();
    return false;
  }

  std::string Out(const std::string& name) { return dir_.path() + "/" + name; }

  // The image config of the single image in the OCI layout at `layout`.
  nlohmann::json LayoutConfig(const std::string& layout) {
    auto blob = [&](const std::string& digest) {
      return nlohmann::json::parse(
          ReadFile(layout + "/blobs/sha256/" + digest.substr(digest.find(':') + 1)), nullptr,
          false);
    };
    nlohmann::json index = nlohmann::json::parse(ReadFile(layout + "/index.json"), nullptr, false);
    if (!index.is_object()) return nlohmann::json();
    nlohmann::json manifest = blob(index["manifests"][0]["digest"].get<std::string>());
    if (!manifest.is_object()) return nlohmann::json();
    return blob(manifest["config"]["digest"].get<std::string>());
  }
};

// BuildKit reads <dockerfile name>.dockerignore next to the Dockerfile before the context's
// .dockerignore; the excluded file stays out of the image and out of COPY's cache key.
TEST_F(CompatTest, DockerfileNameDockerignoreWins) {
  const std::string ctx = Dir("ctx", {{"Dockerfile.app", "FROM busybox:1.35\nCOPY . /c\n"},
                                      {"Dockerfile.app.dockerignore", "secret.txt\n"},
                                      {".dockerignore", "other.txt\n"},
                                      {"secret.txt", "s1\n"},
                                      {"other.txt", "o\n"},
                                      {"keep.txt", "k\n"}});
  Build({"-f", ctx + "/Dockerfile.app", "--output", "type=local,dest=" + Out("a"), ctx});
  EXPECT_FALSE(Exists(Out("a/c/secret.txt")));
  EXPECT_TRUE(Exists(Out("a/c/other.txt")));  // the context's .dockerignore is not read
  EXPECT_TRUE(Exists(Out("a/c/keep.txt")));
  WriteFile(ctx + "/secret.txt", "s2 changed\n");
  nlohmann::json steps;
  Build({"--local", "context=" + ctx, "--local", "dockerfile=" + ctx, "--opt",
         "filename=Dockerfile.app", "--output", "type=local,dest=" + Out("b")},
        &steps);
  EXPECT_FALSE(Exists(Out("b/c/secret.txt")));
  EXPECT_TRUE(Cached(steps, "COPY . /c")) << "the excluded file changed the cache key";
}

// A .dockerignore symlink leading out of the context reads as absent (moby/moby#42108); one
// to a file inside the context is followed.
TEST_F(CompatTest, DockerignoreSymlinkIsFollowedOnlyInsideTheContext) {
  Dir("outside", {{"ignore", "keep.txt\n"}});
  const std::vector<std::string> links = {Out("outside/ignore"), "../outside/ignore"};
  for (size_t i = 0; i < links.size(); ++i) {
    SCOPED_TRACE(links[i]);
    const std::string ctx = Dir(absl::StrCat("ctx", i), {{"Dockerfile",
                                                          "FROM busybox:1.35\n"
                                                          "COPY . /c\n"},
                                                         {"keep.txt", "k\n"}});
    ASSERT_EQ(symlink(links[i].c_str(), (ctx + "/.dockerignore").c_str()), 0);
    const std::string out = Out(absl::StrCat("out", i));
    Build({"--output", "type=local,dest=" + out, ctx});
    EXPECT_TRUE(Exists(out + "/c/keep.txt"));
  }
  const std::string ctx = Dir("ctxin", {{"Dockerfile", "FROM busybox:1.35\nCOPY . /c\n"},
                                        {"ignore.d/patterns", "keep.txt\n"},
                                        {"keep.txt", "k\n"}});
  ASSERT_EQ(symlink("ignore.d/patterns", (ctx + "/.dockerignore").c_str()), 0);
  Build({"--output", "type=local,dest=" + Out("outin"), ctx});
  EXPECT_FALSE(Exists(Out("outin/c/keep.txt")));
  EXPECT_TRUE(Exists(Out("outin/c/ignore.d/patterns")));
}

// Duplicate stage names build, with BuildKit's DuplicateStageName warning; FROM takes the
// latest stage of the name before it, --from and --target the last one in the file.
TEST_F(CompatTest, DuplicateStageNames) {
  const std::string ctx = Dir("dup", {{"Dockerfile",
                                       "FROM busybox:1.35 AS final\nRUN echo one > /one\n"
                                       "FROM final AS child\nRUN cp /one /child\n"
                                       "FROM busybox:1.35 AS final\nRUN echo two > /two\n"
                                       "FROM scratch AS out\nCOPY --from=final /two /two\n"
                                       "COPY --from=child /child /child\n"}});
  ProcessResult r = Build({"--output", "type=local,dest=" + Out("out"), ctx});
  EXPECT_TRUE(absl::StrContains(r.err,
                                " - DuplicateStageName: Duplicate stage name \"final\", stage "
                                "names should be unique (Dockerfile:5)"))
      << r.err;
  EXPECT_EQ(ReadFile(Out("out/two")), "two\n");
  EXPECT_EQ(ReadFile(Out("out/child")), "one\n");
  Build({"--target", "final", "--output", "type=local,dest=" + Out("final"), ctx});
  EXPECT_TRUE(Exists(Out("final/two")));
  EXPECT_FALSE(Exists(Out("final/one")));
}

// MAINTAINER sets the image's author and adds no label (BuildKit's dispatchMaintainer); a
// child stage keeps it.
TEST_F(CompatTest, MaintainerSetsTheAuthor) {
  const std::string ctx = Dir("m", {{"Dockerfile",
                                     "FROM busybox:1.35 AS a\n"
                                     "MAINTAINER Jane <jane@example.com>\n"
                                     "FROM a\nRUN true\n"}});
  const std::string layout = Out("layout");
  Build({"--output", "type=oci,tar=false,dest=" + layout, ctx});
  auto blob = [&](const std::string& digest) {
    return nlohmann::json::parse(
        ReadFile(layout + "/blobs/sha256/" + digest.substr(digest.find(':') + 1)), nullptr, false);
  };
  nlohmann::json index = nlohmann::json::parse(ReadFile(layout + "/index.json"), nullptr, false);
  ASSERT_TRUE(index.is_object()) << ReadFile(layout + "/index.json");
  nlohmann::json manifest = blob(index["manifests"][0]["digest"].get<std::string>());
  ASSERT_TRUE(manifest.is_object());
  nlohmann::json config = blob(manifest["config"]["digest"].get<std::string>());
  ASSERT_TRUE(config.is_object());
  EXPECT_EQ(config.value("author", ""), "Jane <jane@example.com>") << config.dump();
  EXPECT_FALSE(config["config"].contains("Labels") &&
               config["config"]["Labels"].contains("maintainer"))
      << config.dump();
}

// Issue 19 defect 4: a directory .dockerignore (or COPY --exclude) excludes is created only
// when a "!" exception brings back something inside it, and then only the directories on the
// way to it, each with its own metadata (BuildKit's walker). Empty directories below an
// excluded one stay out, and a change to an excluded file leaves COPY cached.
TEST_F(CompatTest, ExcludedDirectoriesAppearOnlyOnTheWayToAnException) {
  const std::string ignore =
      "src/etc\nother\nlogs\n!test*\n!src/etc/keep*\n!other/**/deep.txt\n!**/*.keep\n";
  const std::string ctx = Dir("excl", {{"Dockerfile",
                                        "FROM busybox:1.35\nCOPY . /c/\n"
                                        "COPY --exclude=src/etc --exclude=!src/etc/keep* "
                                        "--exclude=!test* src /d/\n"},
                                       {".dockerignore", ignore},
                                       {"test1.txt", "t\n"},
                                       {"src/main.c", "m\n"},
                                       {"src/etc/conf", "c\n"},
                                       {"src/etc/keep.txt", "k\n"},
                                       {"other/a.txt", "a\n"},
                                       {"other/x/y/deep.txt", "d\n"},
                                       {"logs/a.log", "l\n"}});
  for (const char* d : {"src/etc/foo.conf.d", "src/etc/empty1/deeper", "other/x/z", "other/w"}) {
    ASSERT_EQ(kiln::testing::Run({"mkdir", "-p", ctx + "/" + d}).exit_code, 0) << d;
  }
  ASSERT_EQ(chmod((ctx + "/other/x").c_str(), 0750), 0);
  nlohmann::json steps;
  Build({"--output", "type=local,dest=" + Out("ex1"), ctx}, &steps);
  const std::string c = Out("ex1/c");
  EXPECT_TRUE(Exists(c + "/test1.txt"));
  EXPECT_TRUE(Exists(c + "/src/main.c"));
  EXPECT_TRUE(Exists(c + "/src/etc/keep.txt"));  // brought back: src/etc is on its way
  EXPECT_FALSE(Exists(c + "/src/etc/conf"));
  EXPECT_FALSE(Exists(c + "/src/etc/foo.conf.d")) << "an empty dir below an excluded one";
  EXPECT_FALSE(Exists(c + "/src/etc/empty1"));
  EXPECT_TRUE(Exists(c + "/other/x/y/deep.txt"));  // a deep match: only the path to it
  EXPECT_FALSE(Exists(c + "/other/a.txt"));
  EXPECT_FALSE(Exists(c + "/other/x/z"));
  EXPECT_FALSE(Exists(c + "/other/w"));
  EXPECT_FALSE(Exists(c + "/logs")) << "an excluded dir no exception matches inside";
  struct stat st;
  ASSERT_EQ(stat((c + "/other/x").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0750u) << "a directory on the way keeps its own mode";
  // The same rules through COPY --exclude, relative to the copied source.
  const std::string d = Out("ex1/d");
  EXPECT_TRUE(Exists(d + "/main.c"));
  EXPECT_TRUE(Exists(d + "/etc/keep.txt"));
  EXPECT_FALSE(Exists(d + "/etc/conf"));
  EXPECT_FALSE(Exists(d + "/etc/foo.conf.d"));
  EXPECT_FALSE(Exists(d + "/etc/empty1"));
  // An excluded file changes: both COPY steps stay cached.
  WriteFile(ctx + "/src/etc/conf", "changed, still excluded\n");
  Build({"--output", "type=local,dest=" + Out("ex2"), ctx}, &steps);
  EXPECT_TRUE(Cached(steps, "COPY . /c/"));
  EXPECT_FALSE(Exists(Out("ex2/c/src/etc/foo.conf.d")));
}

// A dir that only an exception on an excluded dir's walk would bring back, with nothing to
// bring back: with no match inside, the whole excluded tree stays out.
TEST_F(CompatTest, ExcludedDirectoryWithoutAMatchStaysOut) {
  const std::string ctx = Dir("excl2", {{"Dockerfile", "FROM busybox:1.35\nCOPY . /c/\n"},
                                        {".dockerignore", "build\n!build/**/*.keep\n"},
                                        {"main.c", "m\n"},
                                        {"build/out/a.o", "o\n"}});
  ASSERT_EQ(kiln::testing::Run({"mkdir", "-p", ctx + "/build/empty/deeper"}).exit_code, 0);
  Build({"--output", "type=local,dest=" + Out("ex3"), ctx});
  EXPECT_TRUE(Exists(Out("ex3/c/main.c")));
  EXPECT_FALSE(Exists(Out("ex3/c/build")));
}

// buildx: SOURCE_DATE_EPOCH in the client's environment becomes the build arg of that name
// (the image's created time and its history), unless the build sets the arg itself.
TEST_F(CompatTest, SourceDateEpochComesFromTheClientEnvironment) {
  const std::string ctx = Dir("sde", {{"Dockerfile",
                                       "FROM busybox:1.35\n"
                                       "ARG SOURCE_DATE_EPOCH\n"
                                       "RUN echo \"epoch=$SOURCE_DATE_EPOCH\" > /epoch\n"}});
  const std::string from_env = Out("from-env");
  Build({"--no-cache", "--output", "type=oci,tar=false,dest=" + from_env, ctx}, nullptr,
        {"SOURCE_DATE_EPOCH=1700000000"});
  nlohmann::json config = LayoutConfig(from_env);
  ASSERT_TRUE(config.is_object());
  EXPECT_EQ(config.value("created", ""), "2023-11-14T22:13:20Z") << config.dump();
  ASSERT_TRUE(config["history"].is_array());
  EXPECT_EQ(config["history"].back().value("created", ""), "2023-11-14T22:13:20Z") << config.dump();

  // The build's own arg wins over the environment.
  const std::string from_arg = Out("from-arg");
  Build({"--no-cache", "--build-arg", "SOURCE_DATE_EPOCH=1600000000", "--output",
         "type=oci,tar=false,dest=" + from_arg, ctx},
        nullptr, {"SOURCE_DATE_EPOCH=1700000000"});
  config = LayoutConfig(from_arg);
  ASSERT_TRUE(config.is_object());
  EXPECT_EQ(config.value("created", ""), "2020-09-13T12:26:40Z") << config.dump();

  // Control: without it, the image carries the build's own time.
  const std::string plain = Out("plain");
  Build({"--no-cache", "--output", "type=oci,tar=false,dest=" + plain, ctx}, nullptr,
        {"KILN_TEST_NO_EPOCH=1"});  // any extra variable: the environment is then filtered
  config = LayoutConfig(plain);
  ASSERT_TRUE(config.is_object());
  EXPECT_NE(config.value("created", ""), "2023-11-14T22:13:20Z") << config.dump();
  EXPECT_NE(config.value("created", ""), "2020-09-13T12:26:40Z") << config.dump();
}

}  // namespace
}  // namespace kiln::testing
