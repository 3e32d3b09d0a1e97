// ChecksumCache on real trees: what it covers, what it re-reads, persistence, exclusion,
// selection inside the root and racy-clean handling.
#include "cache/checksum_cache.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <thread>

#include "base/temp_dir.h"
#include "base/unique_fd.h"

namespace kiln::cache {
namespace {

class ChecksumCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto d = base::TempDir::Create("kiln-csum-");
    ASSERT_TRUE(d.ok()) << d.status();
    dir_ = std::move(*d);
    ctx_ = dir_.path() + "/ctx";
    state_ = dir_.path() + "/state/ctx.csc";
    ASSERT_EQ(::mkdir(ctx_.c_str(), 0755), 0);
    root_.reset(::open(ctx_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    ASSERT_TRUE(root_.valid());
  }

  void WriteFile(const std::string& rel, const std::string& content) {
    std::filesystem::create_directories(std::filesystem::path(ctx_ + "/" + rel).parent_path());
    std::ofstream(ctx_ + "/" + rel, std::ios::binary | std::ios::trunc) << content;
  }

  std::unique_ptr<ChecksumCache> Open(absl::Duration racy = absl::ZeroDuration(),
                                      size_t threads = 0) {
    ChecksumCacheOptions opts;
    opts.racy_window = racy;
    opts.threads = threads;
    auto c = ChecksumCache::Open(state_, opts);
    EXPECT_TRUE(c.ok()) << c.status();
    return c.ok() ? std::move(*c) : nullptr;
  }

  ChecksumResult Sum(ChecksumCache* c, std::vector<std::string> paths = {"."},
                     const ChecksumExcludeFn& exclude = nullptr) {
    auto r = c->Checksum(root_.get(), paths, exclude);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? std::move(*r) : ChecksumResult{};
  }

  static std::map<std::string, ChecksumEntry> ByPath(const ChecksumResult& r) {
    std::map<std::string, ChecksumEntry> m;
    for (const auto& e : r.entries) m[e.path] = e;
    return m;
  }

  void MakeTree() {
    WriteFile("a.txt", "alpha");
    WriteFile("src/main.c", "int main() { return 0; }\n");
    WriteFile("src/lib/util.c", "void util(void) {}\n");
    WriteFile("docs/readme.md", "# readme\n");
    ASSERT_EQ(::symlink("/etc/passwd", (ctx_ + "/passwd-link").c_str()), 0);
  }

  base::TempDir dir_;
  std::string ctx_, state_;
  base::UniqueFd root_;
};

TEST_F(ChecksumCacheTest, CoversTreeAndNeverFollowsSymlinks) {
  MakeTree();
  auto c = Open();
  ChecksumResult r = Sum(c.get());
  std::vector<std::string> paths;
  for (const auto& e : r.entries) paths.push_back(e.path + ":" + e.type);
  std::vector<std::string> want = {".:d",           "a.txt:f", "docs:d",    "docs/readme.md:f",
                                   "passwd-link:l", "src:d",   "src/lib:d", "src/lib/util.c:f",
                                   "src/main.c:f"};
  EXPECT_EQ(paths, want);
  auto m = ByPath(r);
  EXPECT_EQ(m["a.txt"].content, base::Xxh128Of("alpha"));
  EXPECT_EQ(m["passwd-link"].content, base::Xxh128{});
  EXPECT_EQ(c->stats().files_hashed, 4);  // the link target was not read
  // A fresh cache gives the identical result.
  std::filesystem::remove(state_);
  auto c2 = Open();
  EXPECT_EQ(Sum(c2.get()).combined, r.combined);
}

// The entry digest recipe documented in checksum_cache.h, recomputed by hand.
TEST_F(ChecksumCacheTest, EntryDigestFollowsTheDocumentedRecipe) {
  WriteFile("dir/file", "payload");
  ASSERT_EQ(::chmod((ctx_ + "/dir/file").c_str(), 0640), 0);
  ASSERT_EQ(::symlink("../target", (ctx_ + "/dir/link").c_str()), 0);
  auto c = Open();
  auto m = ByPath(Sum(c.get(), {"dir"}));
  auto le = [](std::string& s, uint64_t v, int n) {
    for (int i = 0; i < n; ++i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  };
  std::string f;
  le(f, 8, 4);
  f += "dir/file";
  f += 'f';
  le(f, 0640, 4);
  le(f, ::getuid(), 4);
  le(f, ::getgid(), 4);
  base::Xxh128 content = base::Xxh128Of("payload");
  le(f, content.high, 8);
  le(f, content.low, 8);
  EXPECT_EQ(m["dir/file"].digest, base::Xxh128Of(f));
  std::string l;
  le(l, 8, 4);
  l += "dir/link";
  l += 'l';
  le(l, 0777, 4);
  le(l, ::getuid(), 4);
  le(l, ::getgid(), 4);
  le(l, 9, 4);
  l += "../target";
  EXPECT_EQ(m["dir/link"].digest, base::Xxh128Of(l));
}

TEST_F(ChecksumCacheTest, NoOpPassHashesNothingAndOneChangeHashesOne) {
  MakeTree();
  auto c = Open();
  ChecksumResult first = Sum(c.get());
  EXPECT_EQ(c->stats().files_hashed, 4);
  c->ResetStats();
  ChecksumResult second = Sum(c.get());
  EXPECT_EQ(c->stats().files_hashed, 0);
  EXPECT_EQ(c->stats().bytes_read, 0);
  EXPECT_EQ(c->stats().files_stated, 8);  // every entry below the root, once
  EXPECT_EQ(second.combined, first.combined);
  c->ResetStats();
  WriteFile("src/main.c", "int main() { return 1; }\n");
  ChecksumResult third = Sum(c.get());
  EXPECT_EQ(c->stats().files_hashed, 1);
  EXPECT_NE(third.combined, first.combined);
  auto a = ByPath(first), b = ByPath(third);
  for (const auto& [path, e] : a) {
    if (path == "src/main.c") {
      EXPECT_NE(b[path].digest, e.digest);
    } else {
      EXPECT_EQ(b[path].digest, e.digest) << path;
    }
  }
}

TEST_F(ChecksumCacheTest, SameSizeSameMtimeEditIsCaughtThroughCtime) {
  WriteFile("f", "aaaa");
  struct stat st0;
  ASSERT_EQ(::stat((ctx_ + "/f").c_str(), &st0), 0);
  auto c = Open();
  ChecksumResult first = Sum(c.get());
  std::this_thread::sleep_for(std::chrono::milliseconds(30));  // > one timestamp tick
  WriteFile("f", "bbbb");
  struct timespec times[2] = {st0.st_atim, st0.st_mtim};
  ASSERT_EQ(::utimensat(AT_FDCWD, (ctx_ + "/f").c_str(), times, 0), 0);
  struct stat st1;
  ASSERT_EQ(::stat((ctx_ + "/f").c_str(), &st1), 0);
  ASSERT_EQ(st1.st_size, st0.st_size);
  ASSERT_EQ(st1.st_mtim.tv_nsec, st0.st_mtim.tv_nsec);
  ASSERT_EQ(st1.st_ino, st0.st_ino);
  c->ResetStats();
  ChecksumResult second = Sum(c.get());
  EXPECT_EQ(c->stats().files_hashed, 1);
  EXPECT_EQ(ByPath(second)["f"].content, base::Xxh128Of("bbbb"));
}

TEST_F(ChecksumCacheTest, ReplacedInodeWithSameTimesIsCaught) {
  WriteFile("f", "one!");
  struct stat st0;
  ASSERT_EQ(::stat((ctx_ + "/f").c_str(), &st0), 0);
  auto c = Open();
  Sum(c.get());
  WriteFile("g", "two!");
  struct timespec times[2] = {st0.st_atim, st0.st_mtim};
  ASSERT_EQ(::utimensat(AT_FDCWD, (ctx_ + "/g").c_str(), times, 0), 0);
  ASSERT_EQ(::rename((ctx_ + "/g").c_str(), (ctx_ + "/f").c_str()), 0);
  c->ResetStats();
  ChecksumResult r = Sum(c.get());
  EXPECT_EQ(c->stats().files_hashed, 1);
  EXPECT_EQ(ByPath(r)["f"].content, base::Xxh128Of("two!"));
}

TEST_F(ChecksumCacheTest, RacyEntriesAreReadAgainUntilOldEnough) {
  WriteFile("fresh", "just written");
  auto c = Open(/*racy=*/absl::Hours(1));
  Sum(c.get());
  c->ResetStats();
  Sum(c.get());
  EXPECT_EQ(c->stats().files_hashed, 1) << "a file changed within the racy window is not trusted";
  // With a window shorter than the file's age, the next re-read makes it trusted.
  auto c2 = Open(/*racy=*/absl::Milliseconds(1));
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  Sum(c2.get());
  c2->ResetStats();
  Sum(c2.get());
  EXPECT_EQ(c2->stats().files_hashed, 0);
}

TEST_F(ChecksumCacheTest, ModeCountsMtimeDoesNot) {
  WriteFile("f", "content");
  auto c = Open();
  ChecksumResult r0 = Sum(c.get());
  struct timespec times[2] = {{1000, 0}, {1000, 0}};
  ASSERT_EQ(::utimensat(AT_FDCWD, (ctx_ + "/f").c_str(), times, 0), 0);
  c->ResetStats();
  ChecksumResult r1 = Sum(c.get());
  EXPECT_EQ(c->stats().files_hashed, 1);  // stat changed: re-read
  EXPECT_EQ(r1.combined, r0.combined);    // but mtime is not part of the digest
  ASSERT_EQ(::chmod((ctx_ + "/f").c_str(), 0700), 0);
  ChecksumResult r2 = Sum(c.get());
  EXPECT_NE(r2.combined, r0.combined);
  EXPECT_EQ(ByPath(r2)["f"].content, ByPath(r0)["f"].content);
}

TEST_F(ChecksumCacheTest, OwnershipCountsUnlessTheOptionLeavesItOut) {
  // Needs root to give the file away (root, or root of the rootless namespace; the file is in
  // this test's temp dir).
  ASSERT_EQ(::geteuid(), 0u) << "run as root";
  WriteFile("f", "content");
  auto with = Open();
  ChecksumCacheOptions opts;
  opts.hash_ownership = false;
  auto without_or = ChecksumCache::Open(dir_.path() + "/state/no-owner.csc", opts);
  ASSERT_TRUE(without_or.ok()) << without_or.status();
  std::unique_ptr<ChecksumCache> without = std::move(*without_or);
  ChecksumResult w0 = Sum(with.get());
  ChecksumResult n0 = Sum(without.get());
  ASSERT_EQ(::lchown((ctx_ + "/f").c_str(), 4242, 4343), 0);
  ASSERT_EQ(::lchown(ctx_.c_str(), 4242, 4343), 0);
  EXPECT_NE(Sum(with.get()).combined, w0.combined);
  EXPECT_EQ(Sum(without.get()).combined, n0.combined);
  ASSERT_EQ(::chmod((ctx_ + "/f").c_str(), 0600), 0);  // the mode still counts
  EXPECT_NE(Sum(without.get()).combined, n0.combined);
}

TEST_F(ChecksumCacheTest, PersistsAcrossRestartAndSurvivesCorruptState) {
  MakeTree();
  ChecksumResult first;
  {
    auto c = Open();
    first = Sum(c.get());
    ASSERT_TRUE(c->Save().ok());
  }
  {
    auto c = Open();
    EXPECT_EQ(c->cached_files(), 4u);
    ChecksumResult r = Sum(c.get());
    EXPECT_EQ(c->stats().files_hashed, 0);
    EXPECT_EQ(r.combined, first.combined);
  }
  std::ofstream(state_, std::ios::binary | std::ios::in | std::ios::out).write("XXXX", 4);
  auto c = Open();
  EXPECT_EQ(c->cached_files(), 0u);
  ChecksumResult r = Sum(c.get());
  EXPECT_EQ(c->stats().files_hashed, 4);
  EXPECT_EQ(r.combined, first.combined);
}

TEST_F(ChecksumCacheTest, ExclusionSkipsFilesAndWholeDirectories) {
  MakeTree();
  WriteFile("node_modules/pkg/index.js", "x");
  auto c = Open();
  std::vector<std::string> asked;
  auto exclude = [&](std::string_view rel, bool is_dir) {
    asked.emplace_back(rel);
    return rel == "node_modules" || (!is_dir && rel.ends_with(".md"));
  };
  ChecksumResult r = Sum(c.get(), {"."}, exclude);
  auto m = ByPath(r);
  EXPECT_FALSE(m.contains("node_modules"));
  EXPECT_FALSE(m.contains("docs/readme.md"));
  EXPECT_TRUE(m.contains("docs"));
  EXPECT_EQ(std::count(asked.begin(), asked.end(), "node_modules/pkg"), 0);
  EXPECT_EQ(c->stats().files_hashed, 3);
  auto excluded = c->Checksum(root_.get(), {"docs/readme.md"}, exclude);
  EXPECT_EQ(excluded.status().code(), absl::StatusCode::kNotFound) << excluded.status();
}

TEST_F(ChecksumCacheTest, SelectionIsNormalizedAndStaysInsideTheRoot) {
  MakeTree();
  WriteFile("x", "inside root");
  ASSERT_EQ(::symlink("/", (ctx_ + "/escape").c_str()), 0);
  auto c = Open();
  ChecksumResult r = Sum(c.get(), {"./src/../src/lib", "/a.txt", "src/lib/util.c"});
  std::vector<std::string> paths;
  for (const auto& e : r.entries) paths.push_back(e.path);
  EXPECT_EQ(paths, (std::vector<std::string>{"a.txt", "src/lib", "src/lib/util.c"}));
  // "escape" -> "/" resolves to the context root, never the host root.
  ChecksumResult via = Sum(c.get(), {"escape/x"});
  ASSERT_EQ(via.entries.size(), 1u);
  EXPECT_EQ(via.entries[0].content, base::Xxh128Of("inside root"));
  auto missing = c->Checksum(root_.get(), {"nope/file"});
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("nope/file"), std::string::npos);
  auto climb = c->Checksum(root_.get(), {"../../etc/passwd"});
  EXPECT_EQ(climb.status().code(), absl::StatusCode::kNotFound) << "'..' must clamp at the root";
}

TEST_F(ChecksumCacheTest, RootPassPrunesDeletedFiles) {
  MakeTree();
  auto c = Open();
  Sum(c.get());
  EXPECT_EQ(c->cached_files(), 4u);
  ASSERT_EQ(::unlink((ctx_ + "/a.txt").c_str()), 0);
  Sum(c.get());
  EXPECT_EQ(c->cached_files(), 3u);
}

TEST_F(ChecksumCacheTest, FifosAreListedNeverOpened) {
  WriteFile("a", "x");
  ASSERT_EQ(::mkfifo((ctx_ + "/pipe").c_str(), 0600), 0);
  auto c = Open();
  ChecksumResult r = Sum(c.get());  // would block forever if the fifo were opened
  auto m = ByPath(r);
  ASSERT_TRUE(m.contains("pipe"));
  EXPECT_EQ(m["pipe"].type, 'p');
  EXPECT_EQ(c->stats().files_hashed, 1);
}

// Wide trees must not hold one fd per pending directory (node_modules has thousands).
TEST_F(ChecksumCacheTest, WideTreeWalksUnderALowFdLimit) {
  for (int i = 0; i < 1000; ++i) WriteFile("d" + std::to_string(i) + "/sub/f", "v");
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    struct rlimit lim = {400, 400};
    if (::setrlimit(RLIMIT_NOFILE, &lim) != 0) ::_exit(2);
    auto c = ChecksumCache::Open(state_);
    if (!c.ok()) ::_exit(3);
    auto r = (*c)->Checksum(root_.get(), {"."});
    if (!r.ok()) {
      std::fprintf(stderr, "%s\n", r.status().ToString().c_str());
      ::_exit(4);
    }
    ::_exit(r->entries.size() == 1 + 1000 * 3 ? 0 : 5);
  }
  int wstatus = 0;
  ASSERT_EQ(::waitpid(pid, &wstatus, 0), pid);
  ASSERT_TRUE(WIFEXITED(wstatus));
  EXPECT_EQ(WEXITSTATUS(wstatus), 0) << "2=setrlimit 3=open 4=checksum failed 5=wrong count";
}

TEST_F(ChecksumCacheTest, ParallelWalkMatchesSingleThreaded) {
  for (int d = 0; d < 30; ++d) {
    for (int f = 0; f < 40; ++f) {
      WriteFile("d" + std::to_string(d) + "/sub/f" + std::to_string(f),
                std::string(100 + f * 37, static_cast<char>('a' + d % 26)));
    }
  }
  auto parallel = Open(absl::ZeroDuration(), 4);
  ChecksumResult a = Sum(parallel.get());
  std::filesystem::remove(state_);
  auto serial = Open(absl::ZeroDuration(), 1);
  ChecksumResult b = Sum(serial.get());
  EXPECT_EQ(a.entries.size(), 1u + 30 * 2 + 30 * 40);
  EXPECT_EQ(a.combined, b.combined);
  EXPECT_EQ(parallel->stats().files_hashed, 1200);
}

}  // namespace
}  // namespace kiln::cache
