// RUN --mount end to end through the real Engine: every mount type, cache-key behaviour, cache
// persistence (across builds and engine restarts, and prune), read-only enforcement, and that
// mount targets, mounted content and secrets never reach the exported filesystem. Runs as root
// and (the .rootless test) as the unprivileged kiln-test user.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "base/temp_dir.h"
#include "engine/ops/cache_mount.h"
#include "tests/integration/engine_fixture.h"

namespace kiln::testing {
namespace {


class RunMountTest : public EngineTest {
 protected:
  void SetUp() override {
    auto d = base::TempDir::Create("runmount-", root_->path());
    ASSERT_TRUE(d.ok()) << d.status();
    dir_ = std::move(*d);
    ctx_ = dir_.path() + "/ctx";
    ASSERT_EQ(::mkdir(ctx_.c_str(), 0755), 0);
  }

  void Put(const std::string& rel, const std::string& content) {
    std::filesystem::path p = std::filesystem::path(ctx_) / rel;
    std::filesystem::create_directories(p.parent_path());
    WriteFile(p.string(), content);
  }

  // Builds the context with `dockerfile`, exporting the result (type=local) to a fresh dir
  // whose path goes to *out. Steps that ran (not cached) go to *ran.
  absl::StatusOr<engine::BuildResult> Build(const std::string& dockerfile, std::string* out,
                                            std::vector<std::string>* ran = nullptr,
                                            engine::Engine* e = nullptr,
                                            std::map<std::string, std::string> secrets = {}) {
    Put("Dockerfile", dockerfile);
    *out = absl::StrCat(dir_.path(), "/out", ++exports_);
    auto req = Request(ctx_);
    req.exports = {engine::LocalOutput{*out}};
    req.secrets = std::move(secrets);
    EventLog log;
    auto r = (e != nullptr ? e : engine_)->Build(req, log.Sink(), nullptr);
    if (ran != nullptr) *ran = log.Executed();
    return r;
  }

  static int CountRan(const std::vector<std::string>& ran, const std::string& needle) {
    int n = 0;
    for (const auto& s : ran) n += absl::StrContains(s, needle) ? 1 : 0;
    return n;
  }

  base::TempDir dir_;
  std::string ctx_;
  int exports_ = 0;
};

TEST_F(RunMountTest, BindFromContextKeysOnTheContentItReads) {
  Put("data/a.txt", "one\n");
  Put("other.txt", "x\n");
  const std::string df =
      "FROM busybox:1.35\n"
      "RUN --mount=source=data,target=/src cat /src/a.txt > /out.txt\n";
  std::string out;
  std::vector<std::string> ran;
  auto r = Build(df, &out, &ran);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(ReadFile(out + "/out.txt"), "one\n");
  EXPECT_FALSE(Exists(out + "/src")) << "the mount target leaked into the snapshot";
  EXPECT_EQ(CountRan(ran, "RUN --mount"), 1);

  Put("other.txt", "changed\n");  // not mounted: stays cached
  r = Build(df, &out, &ran);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(CountRan(ran, "RUN --mount"), 0) << "a file outside the mount re-ran the step";

  Put("data/a.txt", "two\n");  // mounted: re-runs
  r = Build(df, &out, &ran);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(CountRan(ran, "RUN --mount"), 1) << "a change in the mounted file did not re-run";
  EXPECT_EQ(ReadFile(out + "/out.txt"), "two\n");
}

TEST_F(RunMountTest, BindHonoursDockerignore) {
  Put("data/keep.txt", "k\n");
  Put("data/ignored.txt", "i\n");
  Put(".dockerignore", "data/ignored.txt\n");
  const std::string df =
      "FROM busybox:1.35\n"
      "RUN --mount=target=/c ls /c/data > /list.txt\n";
  std::string out;
  std::vector<std::string> ran;
  auto r = Build(df, &out, &ran);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(ReadFile(out + "/list.txt"), "keep.txt\n");
  Put("data/ignored.txt", "changed\n");
  r = Build(df, &out, &ran);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(CountRan(ran, "RUN --mount"), 0) << "an ignored file re-ran the step";
}

TEST_F(RunMountTest, BindIsReadOnlyByDefaultAndRwWritesAreDiscarded) {
  Put("file.txt", "orig\n");
  const std::string df =
      "FROM busybox:1.35\n"
      "RUN --mount=target=/ctx sh -c 'if touch /ctx/new 2>/dev/null; then echo writable; "
      "else echo readonly; fi > /ro.txt'\n"
      "RUN --mount=target=/ctx,rw sh -c 'echo changed > /ctx/file.txt && cat /ctx/file.txt "
      "> /rw.txt'\n"
      "RUN --mount=target=/f,source=file.txt,rw sh -c 'echo w >> /f && cat /f > /rwfile.txt'\n";
  std::string out;
  auto r = Build(df, &out);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(ReadFile(out + "/ro.txt"), "readonly\n");
  EXPECT_EQ(ReadFile(out + "/rw.txt"), "changed\n");
  EXPECT_EQ(ReadFile(out + "/rwfile.txt"), "orig\nw\n");
  EXPECT_EQ(ReadFile(ctx_ + "/file.txt"), "orig\n") << "a rw bind wrote into the context";
  EXPECT_FALSE(Exists(ctx_ + "/new"));
  EXPECT_FALSE(Exists(out + "/ctx"));
  EXPECT_FALSE(Exists(out + "/f"));
}

TEST_F(RunMountTest, BindFromStageKeysOnBytesNotOnTheStage) {
  const std::string df_template =
      "FROM busybox:1.35 AS builder\n"
      "RUN mkdir -p /out && echo built > /out/bin.txt && echo %s > /junk.txt\n"
      "FROM busybox:1.35\n"
      "RUN --mount=from=builder,source=/out,target=/b cat /b/bin.txt > /from-stage.txt\n"
      "RUN --mount=from=busybox:1.35,source=/bin/busybox,target=/bb test -x /bb && echo img > "
      "/from-image.txt\n";
  std::string out;
  std::vector<std::string> ran;
  auto r = Build(absl::StrReplaceAll(df_template, {{"%s", "a"}}), &out, &ran);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(ReadFile(out + "/from-stage.txt"), "built\n");
  EXPECT_EQ(ReadFile(out + "/from-image.txt"), "img\n");
  EXPECT_FALSE(Exists(out + "/b"));
  EXPECT_FALSE(Exists(out + "/bb"));
  // The builder changes, but not under /out: the mounting step stays cached.
  r = Build(absl::StrReplaceAll(df_template, {{"%s", "b"}}), &out, &ran);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(CountRan(ran, "mkdir -p /out"), 1);
  EXPECT_EQ(CountRan(ran, "--mount=from=builder"), 0) << "identical mounted bytes re-ran";
}

TEST_F(RunMountTest, BindSourcesCannotEscapeTheirRoot) {
  std::string outside = dir_.path() + "/outside";
  ASSERT_EQ(::mkdir(outside.c_str(), 0755), 0);
  WriteFile(outside + "/secret.txt", "host-only\n");
  ASSERT_EQ(::symlink((outside + "/secret.txt").c_str(), (ctx_ + "/abs-link").c_str()), 0);
  ASSERT_EQ(::symlink("../outside/secret.txt", (ctx_ + "/rel-link").c_str()), 0);
  Put("data/in.txt", "inside\n");
  ASSERT_EQ(::symlink("data", (ctx_ + "/good-link").c_str()), 0);
  std::string out;
  for (const char* link : {"abs-link", "rel-link"}) {
    auto r = Build(absl::StrCat("FROM busybox:1.35\nRUN --mount=source=", link,
                                ",target=/s cat /s > /leak.txt\n"),
                   &out);
    ASSERT_FALSE(r.ok()) << link << " read a file outside the context";
    EXPECT_TRUE(absl::StrContains(r.status().message(), "Dockerfile:2")) << r.status();
    EXPECT_TRUE(absl::StrContains(r.status().message(), "not found")) << r.status();
  }
  auto r = Build(
      "FROM busybox:1.35\nRUN --mount=source=good-link,target=/s cat /s/in.txt > /in.txt\n", &out);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(ReadFile(out + "/in.txt"), "inside\n");
}

TEST_F(RunMountTest, CachePersistsAcrossBuildsAndRestartsIsNotKeyedAndIsPruned) {
  auto state = base::TempDir::Create("cache-engine-", root_->path());
  ASSERT_TRUE(state.ok()) << state.status();
  const std::string df =
      "FROM busybox:1.35\n"
      "ARG N\n"
      "RUN --mount=type=cache,target=/var/cache/x,id=c1 sh -c 'echo $N >> /var/cache/x/log && "
      "cat /var/cache/x/log > /seen.txt'\n";
  auto open_engine = [&]() -> std::unique_ptr<engine::Engine> {
    engine::EngineOptions o;
    o.root = state->path() + "/state";
    auto e = engine::Engine::Open(o);
    EXPECT_TRUE(e.ok()) << e.status();
    if (!e.ok()) return nullptr;
    EXPECT_TRUE((*e)->ImportImage(ImagesDir() + "/busybox-1.35", "busybox:1.35").ok());
    return std::move(*e);
  };
  auto build = [&](engine::Engine* e, const std::string& n, std::string* out,
                   std::vector<std::string>* ran) {
    Put("Dockerfile", df);
    *out = absl::StrCat(dir_.path(), "/out", ++exports_);
    auto req = Request(ctx_);
    req.build_args = {{"N", n}};
    req.exports = {engine::LocalOutput{*out}};
    EventLog log;
    auto r = e->Build(req, log.Sink(), nullptr);
    *ran = log.Executed();
    return r;
  };
  std::string out;
  std::vector<std::string> ran;
  {
    auto e = open_engine();
    ASSERT_NE(e, nullptr);
    auto r = build(e.get(), "1", &out, &ran);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(ReadFile(out + "/seen.txt"), "1\n");
    EXPECT_FALSE(Exists(out + "/var/cache/x")) << "the cache mount target leaked";
    r = build(e.get(), "1", &out, &ran);  // cache contents are not part of the key
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(CountRan(ran, "RUN --mount"), 0);
  }
  auto e = open_engine();  // a restarted engine on the same root
  ASSERT_NE(e, nullptr);
  auto r = build(e.get(), "2", &out, &ran);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(ReadFile(out + "/seen.txt"), "1\n2\n") << "the cache did not survive the restart";
  engine::PruneOptions all;
  all.all = true;
  auto pruned = e->Prune(all);
  ASSERT_TRUE(pruned.ok()) << pruned.status();
  r = build(e.get(), "3", &out, &ran);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(ReadFile(out + "/seen.txt"), "3\n") << "prune --all kept the cache mount";
}

TEST_F(RunMountTest, CacheOwnedForUserNobodyAndReadOnlyWhenAsked) {
  const std::string df =
      "FROM busybox:1.35\n"
      "RUN --mount=type=cache,target=/seed,id=seed-c sh -c 'echo seeded > /seed/s'\n"
      "USER nobody\n"
      "RUN --mount=type=cache,target=/home/c,id=nobody-c,uid=65534,gid=65534,mode=0700 "
      "sh -c 'touch /home/c/x && stat -c \"%u %g %a\" /home/c > /tmp/owner.txt'\n"
      "RUN --mount=type=cache,target=/c2,id=nobody-c,uid=65534,gid=65534,mode=0700,ro "
      "sh -c 'test -e /c2/x && if touch /c2/y 2>/dev/null; then echo rw; else echo ro; fi > "
      "/tmp/ro.txt'\n";
  std::string out;
  auto r = Build(df, &out);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(ReadFile(out + "/tmp/owner.txt"), "65534 65534 700\n");
  EXPECT_EQ(ReadFile(out + "/tmp/ro.txt"), "ro\n");
  EXPECT_FALSE(Exists(out + "/home/c"));
  EXPECT_FALSE(Exists(out + "/c2"));
}

TEST_F(RunMountTest, TmpfsHasItsSizeAndLeavesNothing) {
  const std::string df =
      "FROM busybox:1.35\n"
      "RUN --mount=type=tmpfs,target=/scratch/t,size=1m sh -c "
      "'grep \" /scratch/t \" /proc/mounts | cut -d\" \" -f3 > /fstype.txt; "
      "if dd if=/dev/zero of=/scratch/t/big bs=1024 count=2048 2>/dev/null; then echo fit; "
      "else echo full; fi > /size.txt'\n";
  std::string out;
  auto r = Build(df, &out);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(ReadFile(out + "/fstype.txt"), "tmpfs\n");
  EXPECT_EQ(ReadFile(out + "/size.txt"), "full\n");
  EXPECT_FALSE(Exists(out + "/scratch")) << "a missing mount target's parents leaked";
}

// Every file below `dir` whose bytes contain `needle`.
std::vector<std::string> FilesContaining(const std::string& dir, const std::string& needle) {
  std::vector<std::string> out;
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(dir, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    if (it->is_regular_file(ec) && !it->is_symlink(ec) &&
        ReadFile(it->path().string()).find(needle) != std::string::npos) {
      out.push_back(it->path().string());
    }
  }
  return out;
}

TEST_F(RunMountTest, SecretsReachTheRunButNoLayerOrCacheKey) {
  std::string secret = dir_.path() + "/token";
  WriteFile(secret, "s3cr3t-value");
  const std::string df =
      "FROM busybox:1.35\n"
      "RUN --mount=type=secret,id=tok sh -c 'stat -c \"%a %u\" /run/secrets/tok > /mode.txt "
      "&& wc -c < /run/secrets/tok > /len.txt'\n"
      "RUN --mount=type=secret,id=tok,env=TOK,target=/s/t,mode=0440,uid=1,gid=2 sh -c "
      "'test \"$TOK\" = s3cr3t-value && test \"$(cat /s/t)\" = s3cr3t-value && "
      "stat -c \"%a %u %g\" /s/t > /env.txt'\n"
      "RUN --mount=type=secret,id=nope sh -c 'test ! -e /run/secrets/nope && echo absent > "
      "/absent.txt'\n";
  std::string out;
  std::vector<std::string> ran;
  auto r = Build(df, &out, &ran, nullptr, {{"tok", secret}});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(ReadFile(out + "/mode.txt"), "400 0\n");
  EXPECT_EQ(ReadFile(out + "/len.txt"), "12\n");
  EXPECT_EQ(ReadFile(out + "/env.txt"), "440 1 2\n");
  EXPECT_EQ(ReadFile(out + "/absent.txt"), "absent\n");
  EXPECT_FALSE(Exists(out + "/run/secrets/tok"));
  EXPECT_FALSE(Exists(out + "/s"));
  EXPECT_EQ(FilesContaining(out, "s3cr3t"), std::vector<std::string>{});
  EXPECT_EQ(FilesContaining(root_->path() + "/state/snapshots", "s3cr3t"),
            std::vector<std::string>{})
      << "the secret reached a snapshot";

  WriteFile(secret, "another-value");  // secret values are not part of the cache key
  r = Build(df, &out, &ran, nullptr, {{"tok", secret}});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(CountRan(ran, "RUN --mount"), 0);

  r = Build("FROM busybox:1.35\nRUN --mount=type=secret,id=missing,required=true true\n", &out);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << r.status();
  EXPECT_TRUE(absl::StrContains(r.status().message(), "Dockerfile:2:")) << r.status();
  EXPECT_TRUE(absl::StrContains(r.status().message(), "'missing'")) << r.status();
}

TEST_F(RunMountTest, SeveralMountsOnMissingTargetsAndHeredocScripts) {
  Put("in.txt", "ctx\n");
  const std::string df =
      "FROM busybox:1.35\n"
      "RUN --mount=target=/deep/a/ctx --mount=type=cache,target=/deep/a/cache "
      "--mount=type=tmpfs,target=/deep/b sh -c 'cat /deep/a/ctx/in.txt > /multi.txt && "
      "touch /deep/a/cache/c /deep/b/t && mkdir -p /deep/kept && echo k > /deep/kept/k'\n"
      "RUN <<EOF\n"
      "#!/bin/sh\n"
      "echo heredoc > /heredoc.txt\n"
      "EOF\n";
  std::string out;
  auto r = Build(df, &out);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(ReadFile(out + "/multi.txt"), "ctx\n");
  EXPECT_EQ(ReadFile(out + "/heredoc.txt"), "heredoc\n");
  EXPECT_EQ(ReadFile(out + "/deep/kept/k"), "k\n") << "what the command wrote must stay";
  EXPECT_FALSE(Exists(out + "/deep/a"));
  EXPECT_FALSE(Exists(out + "/deep/b"));
}

TEST_F(RunMountTest, SshIsRejectedWithTheLine) {
  std::string out;
  auto r = Build("FROM busybox:1.35\n\nRUN --mount=type=ssh true\n", &out);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(r.status().message(),
                                "Dockerfile:3: RUN --mount=type=ssh is not supported"))
      << r.status();
}

// The sharing rules of cache-mount instances, on real directories and flock locks.
TEST(CacheMountStoreTest, SharingRulesSeedAndPrune) {
  auto tmp = base::TempDir::Create("cachemounts-");
  ASSERT_TRUE(tmp.ok()) << tmp.status();
  const std::string dir = tmp->path() + "/cachemounts";
  engine::CacheMountRequest shared;
  shared.key = "id=k";
  auto a = engine::AcquireCacheMount(dir, shared);
  auto b = engine::AcquireCacheMount(dir, shared);
  ASSERT_TRUE(a.ok() && b.ok()) << a.status() << b.status();
  EXPECT_EQ(a->path(), b->path()) << "shared users must share one directory";

  engine::CacheMountRequest priv = shared;
  priv.sharing = engine::CacheSharing::kPrivate;
  auto p = engine::AcquireCacheMount(dir, priv);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_NE(p->path(), a->path()) << "private must not share an instance in use";

  engine::CacheMountRequest locked = shared;
  locked.sharing = engine::CacheSharing::kLocked;
  std::atomic<bool> done{false};
  absl::StatusOr<engine::CacheMountLease> l;
  std::thread waiter([&] {
    l = engine::AcquireCacheMount(dir, locked);
    done = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  EXPECT_FALSE(done.load()) << "locked did not wait while every instance was in use";
  std::string private_path = p->path();
  *p = engine::CacheMountLease();  // release the private instance
  waiter.join();
  ASSERT_TRUE(l.ok()) << l.status();
  EXPECT_EQ(l->path(), private_path);

  locked.cancelled = [] { return true; };
  auto c = engine::AcquireCacheMount(dir, locked);
  EXPECT_EQ(c.status().code(), absl::StatusCode::kCancelled) << c.status();

  *l = engine::CacheMountLease();
  auto pruned = engine::PruneCacheMounts(dir);
  ASSERT_TRUE(pruned.ok()) << pruned.status();
  EXPECT_EQ(pruned->instances_removed, 1) << "prune must skip instances in use";
  EXPECT_TRUE(Exists(a->path()));
  EXPECT_FALSE(Exists(private_path));

  engine::CacheMountRequest seeded;
  seeded.key = "id=seeded";
  seeded.mode = 0750;
  seeded.seed = [](int fd) -> absl::Status {
    int f = ::openat(fd, "seed.txt", O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (f < 0) return absl::InternalError("create seed.txt");
    ::close(f);
    return absl::OkStatus();
  };
  auto s = engine::AcquireCacheMount(dir, seeded);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_TRUE(Exists(s->path() + "/seed.txt"));
  struct stat st;
  ASSERT_EQ(::stat(s->path().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0750u);
}

}  // namespace
}  // namespace kiln::testing
