// Remote cache through a local directory (--export-cache type=local / --import-cache) and a
// registry (type=registry, Debian's docker-registry on loopback), with real kilnd daemons: each has
// its own state dir, so each is a separate machine. Two checkouts of one project sit at different
// paths, the second owned by another uid.
#include <signal.h>
#include <unistd.h>

#include <deque>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "base/temp_dir.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/daemon/test_util.h"
#include "tests/registry/test_registry.h"

namespace kiln::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kDockerfile[] = R"(FROM busybox:1.35 AS gen
COPY gen.txt /src/gen.txt
RUN sed 's/a/b/g' /src/gen.txt > /out.txt

FROM busybox:1.35
WORKDIR /app
COPY app.txt ./
COPY --from=gen /out.txt ./out.txt
RUN cat app.txt out.txt > all.txt
)";

std::string ImagesDir() {
  const char* dir = std::getenv("KILN_IMAGES_DIR");
  return dir != nullptr && *dir != '\0' ? dir : "/var/cache/kiln/images";
}

struct Daemon {
  std::string dir;
  std::string addr;
  Child child;
};

struct Built {
  ProcessResult run;
  nlohmann::json meta;
  // Step name -> cached, for the steps of the build.
  std::map<std::string, bool> Cached() const {
    std::map<std::string, bool> out;
    if (!meta.contains("kiln.build.steps")) return out;
    for (const auto& s : meta["kiln.build.steps"]) {
      out[s.value("name", std::string())] = s.value("cached", false);
    }
    return out;
  }
  std::string Digest() const { return meta.value("containerimage.digest", std::string()); }
};

class RemoteCacheE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = base::TempDir::Create("kiln-rcache-");
    ASSERT_TRUE(dir.ok()) << dir.status();
    dir_ = std::move(*dir);
    env_ = {"HOME=" + dir_.path(), "PATH=/usr/local/bin:/usr/bin:/bin"};
    for (const char* name : {"LSAN_OPTIONS", "ASAN_OPTIONS", "UBSAN_OPTIONS"}) {
      if (const char* v = std::getenv(name)) env_.push_back(absl::StrCat(name, "=", v));
    }
  }
  void TearDown() override {
    for (Daemon& d : daemons_) {
      if (d.child.pid() <= 0) continue;
      kill(d.child.pid(), SIGTERM);
      ProcessResult r = d.child.Wait(absl::Seconds(60));
      EXPECT_EQ(r.exit_code, 0) << r.err;
    }
  }

  ProcessResult Sh(const std::string& cmd) { return testing::Run({"/bin/sh", "-c", cmd}, env_); }

  // A new machine: kilnd with its own state dir, busybox imported.
  Daemon& Machine(const std::string& name) {
    Daemon& d = daemons_.emplace_back();
    d.dir = dir_.path() + "/" + name;
    EXPECT_EQ(Sh("mkdir -p " + d.dir).exit_code, 0);
    d.addr = "unix://" + d.dir + "/run/kilnd.sock";
    d.child = Child::Start(
        {KilndPath(), "--addr", d.addr, "--root", d.dir + "/state", "--config", "/dev/null"});
    absl::Time deadline = absl::Now() + absl::Seconds(60);
    ProcessResult r;
    do {
      r = Kilnctl(d, {"image", "import", ImagesDir() + "/busybox-1.35", "--name", "busybox:1.35"});
    } while (r.exit_code != 0 && absl::Now() < deadline &&
             (absl::SleepFor(absl::Milliseconds(100)), true));
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return d;
  }

  ProcessResult Kilnctl(const Daemon& d, std::vector<std::string> args) {
    std::vector<std::string> argv = {KilnctlPath(), "--addr", d.addr};
    argv.insert(argv.end(), args.begin(), args.end());
    return testing::Run(argv, env_, absl::Seconds(600));
  }

  // A checkout of the project at `rel` below the temp dir.
  std::string Checkout(const std::string& rel) {
    std::string p = dir_.path() + "/" + rel;
    EXPECT_EQ(Sh("mkdir -p " + p).exit_code, 0);
    WriteFile(p + "/Dockerfile", kDockerfile);
    WriteFile(p + "/app.txt", "app v1\n");
    WriteFile(p + "/gen.txt", "banana\n");
    return p;
  }

  Built Build(const Daemon& d, const std::string& ctx, std::vector<std::string> extra) {
    std::string meta = d.dir + "/meta.json";
    unlink(meta.c_str());
    std::vector<std::string> args = {"build", "--progress", "plain", "--metadata-file",
                                     meta,    "-t",         "app:1"};
    args.insert(args.end(), extra.begin(), extra.end());
    args.push_back(ctx);
    Built b;
    b.run = Kilnctl(d, args);
    b.meta = nlohmann::json::parse(ReadFile(meta), nullptr, false);
    if (b.meta.is_discarded()) b.meta = nlohmann::json::object();
    return b;
  }

  // The parsed description of the cache in `dir` (through index.json and the manifest).
  nlohmann::json Description(const std::string& dir) {
    auto index = nlohmann::json::parse(ReadFile(dir + "/index.json"), nullptr, false);
    if (index.is_discarded()) return {};
    std::string m = index["manifests"][0]["digest"].get<std::string>().substr(7);
    auto manifest = nlohmann::json::parse(ReadFile(dir + "/blobs/sha256/" + m), nullptr, false);
    if (manifest.is_discarded()) return {};
    config_hex_ = manifest["config"]["digest"].get<std::string>().substr(7);
    auto d = nlohmann::json::parse(ReadFile(dir + "/blobs/sha256/" + config_hex_), nullptr, false);
    return d.is_discarded() ? nlohmann::json{} : d;
  }

  base::TempDir dir_;
  std::vector<std::string> env_;
  std::deque<Daemon> daemons_;
  std::string config_hex_;
};

bool CachedStep(const std::map<std::string, bool>& steps, const std::string& part) {
  for (const auto& [name, cached] : steps) {
    if (absl::StrContains(name, part)) return cached;
  }
  ADD_FAILURE() << "no step named like '" << part << "'";
  return false;
}

TEST_F(RemoteCacheE2eTest, SecondMachineBuildsFullyCachedWithTheSameDigest) {
  std::string cache = dir_.path() + "/shared-cache";
  std::string ctx_a = Checkout("alice/src/project");
  std::string ctx_b = Checkout("ci/runner-7/work/checkout");
  ASSERT_EQ(Sh("chown -R kiln-test: " + dir_.path() + "/ci").exit_code, 0);

  Daemon& a = Machine("machine-a");
  Built built_a = Build(a, ctx_a, {"--export-cache", "type=local,dest=" + cache + ",mode=max"});
  ASSERT_EQ(built_a.run.exit_code, 0) << built_a.run.err;
  ASSERT_FALSE(built_a.Digest().empty());
  EXPECT_EQ(built_a.meta.value("kiln.build.steps_cached", -1), 0);

  // The description holds keys and layers, nothing of machine A.
  nlohmann::json desc = Description(cache);
  ASSERT_TRUE(desc.contains("records")) << desc.dump();
  EXPECT_EQ(desc["mediaType"], "application/vnd.kiln.cache.description.v1+json");
  EXPECT_GE(desc["records"].size(), 5u) << desc.dump();  // mode=max: the gen stage too
  std::string text = desc.dump();
  EXPECT_THAT(text, Not(HasSubstr(dir_.path())));
  EXPECT_THAT(text, Not(HasSubstr("machine-a")));
  EXPECT_THAT(text, Not(HasSubstr("snapshot")));

  // Machine B: another path, another owner; everything comes from the cache.
  Daemon& b = Machine("machine-b");
  Built built_b = Build(b, ctx_b, {"--import-cache", "type=local,src=" + cache});
  ASSERT_EQ(built_b.run.exit_code, 0) << built_b.run.err;
  // Every step but the context loads (never cached: they only read the client's files).
  int checked = 0;
  for (const auto& [name, cached] : built_b.Cached()) {
    if (absl::StrContains(name, "load build context")) continue;
    ++checked;
    EXPECT_TRUE(cached) << name << "\n" << built_b.run.err;
  }
  EXPECT_EQ(checked, 7) << built_b.meta.dump();
  EXPECT_EQ(built_b.Digest(), built_a.Digest());
  EXPECT_THAT(built_b.run.err, Not(HasSubstr("WARN")));
  ProcessResult du = Kilnctl(b, {"du", "--verbose"});
  if (du.exit_code != 0) du = Kilnctl(b, {"du"});
  EXPECT_THAT(du.out, HasSubstr("imported")) << du.out << du.err;

  // One changed context file: only the steps downstream of it run.
  WriteFile(ctx_b + "/app.txt", "app v2\n");
  Built changed = Build(b, ctx_b, {"--import-cache", "type=local,src=" + cache});
  ASSERT_EQ(changed.run.exit_code, 0) << changed.run.err;
  auto steps = changed.Cached();
  EXPECT_TRUE(CachedStep(steps, "COPY gen.txt")) << changed.run.err;
  EXPECT_TRUE(CachedStep(steps, "RUN sed")) << changed.run.err;
  EXPECT_FALSE(CachedStep(steps, "COPY app.txt")) << changed.run.err;
  EXPECT_FALSE(CachedStep(steps, "RUN cat")) << changed.run.err;
}

TEST_F(RemoteCacheE2eTest, ModeMinExportsOnlyTheFinalImagesSteps) {
  std::string cache = dir_.path() + "/min-cache";
  std::string ctx = Checkout("project");
  Daemon& a = Machine("machine-a");
  Built built_a = Build(a, ctx, {"--cache-to", "type=local,dest=" + cache});
  ASSERT_EQ(built_a.run.exit_code, 0) << built_a.run.err;
  nlohmann::json desc = Description(cache);
  ASSERT_TRUE(desc.contains("records")) << desc.dump();
  std::string text = desc.dump();
  EXPECT_THAT(text, HasSubstr("RUN cat"));
  EXPECT_THAT(text, Not(HasSubstr("RUN sed")));  // the gen stage is not in the image

  Daemon& b = Machine("machine-b");
  Built built_b = Build(b, ctx, {"--cache-from", "type=local,src=" + cache});
  ASSERT_EQ(built_b.run.exit_code, 0) << built_b.run.err;
  auto steps = built_b.Cached();
  EXPECT_FALSE(CachedStep(steps, "RUN sed")) << built_b.run.err;
  EXPECT_TRUE(CachedStep(steps, "COPY app.txt")) << built_b.run.err;
  EXPECT_TRUE(CachedStep(steps, "RUN cat")) << built_b.run.err;
  EXPECT_EQ(built_b.Digest(), built_a.Digest());
}

TEST_F(RemoteCacheE2eTest, BrokenCachesWarnAndBuildNormally) {
  std::string cache = dir_.path() + "/good-cache";
  std::string ctx = Checkout("project");
  Daemon& a = Machine("machine-a");
  Built built_a = Build(a, ctx, {"--export-cache", "type=local,dest=" + cache + ",mode=max"});
  ASSERT_EQ(built_a.run.exit_code, 0) << built_a.run.err;
  nlohmann::json desc = Description(cache);
  ASSERT_TRUE(desc.contains("records")) << desc.dump();

  // Not a cache at all.
  std::string not_cache = dir_.path() + "/not-a-cache";
  ASSERT_EQ(Sh("mkdir -p " + not_cache + " && echo '{}' > " + not_cache + "/index.json").exit_code,
            0);
  // A corrupt description (its blob no longer matches its digest).
  std::string corrupt = dir_.path() + "/corrupt-cache";
  ASSERT_EQ(Sh("cp -a " + cache + " " + corrupt).exit_code, 0);
  WriteFile(corrupt + "/blobs/sha256/" + config_hex_, "{\"records\": [");
  // A missing layer blob: the one the final RUN added.
  std::string missing = dir_.path() + "/missing-blob-cache";
  ASSERT_EQ(Sh("cp -a " + cache + " " + missing).exit_code, 0);
  std::string run_layer;
  for (const auto& r : desc["records"]) {
    if (absl::StrContains(r.value("description", ""), "RUN cat")) {
      run_layer = desc["layers"][r["chain"].back().get<size_t>()]["digest"];
    }
  }
  ASSERT_FALSE(run_layer.empty()) << desc.dump();
  ASSERT_EQ(unlink((missing + "/blobs/sha256/" + run_layer.substr(7)).c_str()), 0);

  struct Case {
    std::string dir;
    std::string warning;
  } cases[] = {{not_cache, "not-a-cache"},
               {corrupt, "corrupt-cache"},
               {missing, "missing"},
               {dir_.path() + "/no-such-dir", "no cache there"}};
  int n = 0;
  for (const Case& c : cases) {
    Daemon& m = Machine(absl::StrCat("machine-", n++));
    std::string out = m.dir + "/out";
    Built built =
        Build(m, ctx,
              {"--import-cache", "type=local,src=" + c.dir, "--output", "type=local,dest=" + out});
    ASSERT_EQ(built.run.exit_code, 0) << c.dir << "\n" << built.run.err;
    EXPECT_THAT(built.run.err, HasSubstr("WARN: import cache local:" + c.dir)) << built.run.err;
    EXPECT_THAT(built.run.err, HasSubstr(c.warning)) << built.run.err;
    EXPECT_EQ(ReadFile(out + "/app/all.txt"), "app v1\nbbnbnb\n") << c.dir;
  }
}

TEST_F(RemoteCacheE2eTest, OnFailureExportsTheStepsThatFinished) {
  std::string cache = dir_.path() + "/failed-cache";
  std::string ctx = Checkout("project");
  WriteFile(ctx + "/Dockerfile", std::string(kDockerfile) + "RUN exit 3\n");
  Daemon& a = Machine("machine-a");
  Built plain = Build(a, ctx, {"--export-cache", "type=local,dest=" + cache + ",mode=max"});
  ASSERT_NE(plain.run.exit_code, 0) << plain.run.err;
  EXPECT_NE(access((cache + "/index.json").c_str(), F_OK), 0) << "exported without on-failure";
  Built failed = Build(a, ctx, {"--export-cache", "type=local,dest=" + cache + ",on-failure=true"});
  ASSERT_NE(failed.run.exit_code, 0) << failed.run.err;
  EXPECT_THAT(failed.run.err, HasSubstr("exit")) << failed.run.err;

  // Machine B, with the failing step fixed: everything before it comes from the cache.
  WriteFile(ctx + "/Dockerfile", std::string(kDockerfile) + "RUN exit 0\n");
  Daemon& b = Machine("machine-b");
  Built fixed = Build(b, ctx, {"--import-cache", "type=local,src=" + cache});
  ASSERT_EQ(fixed.run.exit_code, 0) << fixed.run.err;
  auto steps = fixed.Cached();
  EXPECT_TRUE(CachedStep(steps, "RUN sed")) << fixed.run.err;
  EXPECT_TRUE(CachedStep(steps, "RUN cat")) << fixed.run.err;
  EXPECT_FALSE(CachedStep(steps, "RUN exit 0")) << fixed.run.err;
}

TEST_F(RemoteCacheE2eTest, RegistryCacheImportsExportsAndMerges) {
  auto reg = tests::TestRegistry::Start();
  ASSERT_TRUE(reg.ok()) << reg.status();
  std::string ref = (*reg)->host() + "/cache/app:main";
  std::string ctx1 = Checkout("one");
  std::string ctx2 = Checkout("two");
  WriteFile(ctx2 + "/gen.txt", "avocado\n");
  WriteFile(ctx2 + "/app.txt", "app two\n");

  // Two builds of different projects export to one ref: the second merges, keeping both.
  Daemon& a = Machine("machine-a");
  Built one = Build(a, ctx1, {"--export-cache", "type=registry,ref=" + ref + ",mode=max"});
  ASSERT_EQ(one.run.exit_code, 0) << one.run.err;
  Built two = Build(a, ctx2, {"--cache-to", "type=registry,ref=" + ref + ",mode=max"});
  ASSERT_EQ(two.run.exit_code, 0) << two.run.err;

  Daemon& b = Machine("machine-b");
  for (const auto& [ctx, digest] : {std::pair{ctx1, one.Digest()}, std::pair{ctx2, two.Digest()}}) {
    Built built = Build(b, ctx, {"--import-cache", "type=registry,ref=" + ref});
    ASSERT_EQ(built.run.exit_code, 0) << built.run.err;
    for (const auto& [name, cached] : built.Cached()) {
      if (!absl::StrContains(name, "load build context")) {
        EXPECT_TRUE(cached) << ctx << ": " << name << "\n" << built.run.err;
      }
    }
    EXPECT_EQ(built.Digest(), digest) << ctx;
    EXPECT_THAT(built.run.err, Not(HasSubstr("WARN"))) << built.run.err;
  }

  // A ref holding a normal image, and a tag that does not exist: a warning, a normal build.
  ProcessResult push = Kilnctl(a, {"image", "push", "app:1", (*reg)->host() + "/plain/app:1"});
  ASSERT_EQ(push.exit_code, 0) << push.err;
  Daemon& c = Machine("machine-c");
  std::string out = c.dir + "/out";
  Built plain = Build(c, ctx1,
                      {"--cache-from", (*reg)->host() + "/plain/app:1", "--cache-from",
                       (*reg)->host() + "/cache/none:x", "--output", "type=local,dest=" + out});
  ASSERT_EQ(plain.run.exit_code, 0) << plain.run.err;
  EXPECT_THAT(plain.run.err, HasSubstr("not a Kiln cache")) << plain.run.err;
  EXPECT_THAT(plain.run.err, HasSubstr("no cache there")) << plain.run.err;
  EXPECT_EQ(ReadFile(out + "/app/all.txt"), "app v1\nbbnbnb\n");

  // The registry down: an export fails the build with the reason, unless ignore-error=true.
  (*reg)->Stop();
  Built down = Build(a, ctx1, {"--export-cache", "type=registry,ref=" + ref});
  EXPECT_NE(down.run.exit_code, 0);
  EXPECT_THAT(down.run.err, HasSubstr("export cache registry:" + ref)) << down.run.err;
  Built ignored =
      Build(a, ctx1, {"--export-cache", "type=registry,ref=" + ref + ",ignore-error=true"});
  EXPECT_EQ(ignored.run.exit_code, 0) << ignored.run.err;
  EXPECT_THAT(ignored.run.err, HasSubstr("ignore-error=true")) << ignored.run.err;
}

}  // namespace
}  // namespace kiln::testing
