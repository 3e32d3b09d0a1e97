// Property test of issue 13's "one selection": for random trees (files, directories, empty
// directories, symlinks), random COPY sources (names, wildcards, the root), random
// .dockerignore patterns with "!" exceptions, random --exclude patterns and --parents
// patterns, the entries the cache key hashes (HashSources, and the persisted checksum cache
// through ChecksumCopy) are exactly the entries CopyFiles writes. Seeded and reproducible:
// KILN_PROPERTY_SEED=<n> reruns from seed n; a failure prints the case's seed and inputs.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/temp_dir.h"
#include "base/unique_fd.h"
#include "cache/checksum_cache.h"
#include "engine/copy/context_checksums.h"
#include "engine/copy/copy.h"
#include "engine/copy/copy_parents.h"
#include "engine/copy/copy_paths.h"
#include "engine/copy/copy_selection.h"
#include "engine/copy/excludes.h"
#include "gtest/gtest.h"

namespace kiln::engine {
namespace {

namespace fs = std::filesystem;

const std::vector<std::string> kNames = {"a",     "b",     "etc",   "keep1", "sub",
                                         "test1", "test2", "x.txt", "y.md"};

struct Case {
  std::vector<std::string> sources, ignore, excludes;
  std::string parents;  // a --parents pattern ("" = none)
  std::string Describe() const {
    return absl::StrCat("sources=[", absl::StrJoin(sources, " "), "] .dockerignore=[",
                        absl::StrJoin(ignore, " "), "] --exclude=[", absl::StrJoin(excludes, " "),
                        "] --parents=", parents);
  }
};

class Generator {
 public:
  explicit Generator(uint32_t seed) : rng_(seed) {}

  int Below(int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng_); }
  const std::string& Name() {
    return kNames[static_cast<size_t>(Below(static_cast<int>(kNames.size())))];
  }

  // A random tree under `dir`; records every path made (relative) in `paths_`.
  void Tree(const std::string& dir, const std::string& rel, int depth) {
    int n = Below(depth == 0 ? 6 : 4);
    for (int i = 0; i < n; ++i) {
      const std::string name = Name();
      const std::string path = dir + "/" + name;
      const std::string r = rel.empty() ? name : rel + "/" + name;
      struct stat st;
      if (::lstat(path.c_str(), &st) == 0) continue;
      int kind = Below(10);
      if (kind < 4 && depth < 3) {
        ASSERT_EQ(::mkdir(path.c_str(), 0755 - 0050 * Below(2)), 0) << path;
        paths_.push_back(r);
        Tree(path, r, depth + 1);
      } else if (kind < 9) {
        std::ofstream(path) << "content of " << r << " " << Below(1000);
        ASSERT_EQ(::chmod(path.c_str(), Below(2) ? 0644 : 0755), 0);
        paths_.push_back(r);
      } else {
        const std::string target = Below(2) ? Name() : "../" + Name();
        ASSERT_EQ(::symlink(target.c_str(), path.c_str()), 0) << path;
        paths_.push_back(r);
      }
    }
  }

  // A path that exists in the tree, or a name that may not.
  std::string Path() {
    return paths_.empty() || Below(5) == 0 ? Name()
                                           : paths_[Below(static_cast<int>(paths_.size()))];
  }

  std::string Wild() {
    std::string p = Path();
    switch (Below(4)) {
      case 0: {
        size_t slash = p.rfind('/');
        return slash == std::string::npos ? "*" : p.substr(0, slash) + "/*";
      }
      case 1:
        return p.substr(0, p.size() / 2 + 1) + "*";
      case 2:
        return "*/" + Name();
      default:
        p[0] = '?';
        return p;
    }
  }

  std::string Pattern() {
    switch (Below(6)) {
      case 0:
        return Wild();
      case 1:
        return "**/" + Name();
      case 2:
        return Name() + "/**";
      default:
        return Path();
    }
  }

  Case Make() {
    Case c;
    int sources = 1 + Below(2);
    for (int i = 0; i < sources; ++i) {
      int k = Below(4);
      c.sources.push_back(k == 0 ? "." : k == 1 ? Wild() : Path());
    }
    int ignore = Below(5);
    for (int i = 0; i < ignore; ++i) c.ignore.push_back((Below(3) == 0 ? "!" : "") + Pattern());
    if (Below(3) == 0) c.excludes.push_back(Pattern());
    if (Below(4) == 0) {
      c.sources = {"/"};
      c.parents = Pattern();
    }
    return c;
  }

 private:
  std::mt19937 rng_;
  std::vector<std::string> paths_;
};

// Every entry below `root` (relative, without following symlinks).
std::set<std::string> ListTree(const std::string& root) {
  std::set<std::string> out;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(root, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    out.insert(it->path().lexically_relative(root).string());
  }
  return out;
}

std::string Basename(const std::string& p) {
  size_t slash = p.rfind('/');
  return slash == std::string::npos ? p : p.substr(slash + 1);
}

// Where entry `e` (relative to the source root) of source `m` lands below the destination.
std::string DestOf(const std::string& e, const std::string& m, bool m_is_dir) {
  if (!m_is_dir) return Basename(m);
  if (m.empty()) return e;
  return e.substr(m.size() + 1);
}

class CopySelectionPropertyTest : public ::testing::Test {
 protected:
  // Shows the source tree of a failing case (the seed in the trace rebuilds it).
  static void DumpTree(const std::string& src) {
    std::string tree;
    for (const std::string& p : ListTree(src)) {
      struct stat st;
      ::lstat((src + "/" + p).c_str(), &st);
      absl::StrAppend(&tree, "  ", p,
                      S_ISDIR(st.st_mode)   ? "/"
                      : S_ISLNK(st.st_mode) ? "@"
                                            : "",
                      "\n");
    }
    ADD_FAILURE() << "source tree:\n" << tree;
  }

  void SetUp() override {
    auto d = base::TempDir::Create("kiln-selection-prop-");
    ASSERT_TRUE(d.ok()) << d.status();
    dir_ = std::move(*d);
  }
  base::TempDir dir_;
};

TEST_F(CopySelectionPropertyTest, EntriesHashedAreExactlyTheEntriesCopied) {
  uint32_t base_seed = 20261207;
  if (const char* s = std::getenv("KILN_PROPERTY_SEED"))
    base_seed = static_cast<uint32_t>(std::atoll(s));
  constexpr int kCases = 300;
  int compared = 0, cache_compared = 0, copy_failed = 0;
  for (int i = 0; i < kCases; ++i) {
    const uint32_t seed = base_seed + static_cast<uint32_t>(i);
    const std::string root = absl::StrCat(dir_.path(), "/", i);
    const std::string src = root + "/src", dst = root + "/dst";
    ASSERT_EQ(::mkdir(root.c_str(), 0755), 0);
    ASSERT_EQ(::mkdir(src.c_str(), 0755), 0);
    ASSERT_EQ(::mkdir(dst.c_str(), 0755), 0);
    Generator gen(seed);
    gen.Tree(src, "", 0);
    const Case c = gen.Make();
    SCOPED_TRACE(absl::StrCat("KILN_PROPERTY_SEED=", seed, " (case ", i, "): ", c.Describe()));

    CopyOptions o;
    o.sources = c.sources;
    o.dest = "/out/";
    o.allow_empty_wildcard = true;
    auto ex = MakeExcludeFn(c.ignore);
    auto ex_src = MakeExcludeFn(c.excludes);
    if (!ex.ok() || !ex_src.ok()) continue;  // a malformed pattern is refused before any copy
    o.exclude = *ex;
    o.exclude_in_source = *ex_src;
    if (!c.parents.empty()) {
      auto inc = MakeParentsInclude(c.parents);
      ASSERT_TRUE(inc.ok()) << inc.status();
      o.include = std::move(*inc);
    }
    base::UniqueFd src_fd(::open(src.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    base::UniqueFd dst_fd(::open(dst.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    ASSERT_TRUE(src_fd && dst_fd);

    absl::StatusOr<CopyStats> copied = CopyFiles(src_fd.get(), dst_fd.get(), o);
    std::vector<std::string> all_hashed;
    absl::StatusOr<std::string> key = HashSources(src_fd.get(), o, nullptr, &all_hashed);
    if (!copied.ok()) {
      // Sources colliding in the destination (InvalidArgument) are the copy's own business;
      // a source the copy cannot find or read (missing, excluded, a symlink loop) must fail
      // the key as well.
      ++copy_failed;
      if (!absl::IsInvalidArgument(copied.status())) {
        EXPECT_FALSE(key.ok()) << "the copy failed, the key did not: " << copied.status();
      }
      if (HasFailure()) {
        DumpTree(src);
        break;
      }
      continue;
    }
    ASSERT_TRUE(key.ok()) << key.status();
    const std::set<std::string> written = ListTree(dst + "/out");

    // The same walk per source, to map each hashed entry to where the copy puts it.
    absl::StatusOr<std::vector<std::string>> matches = CopySelection(o).Sources(src_fd.get());
    ASSERT_TRUE(matches.ok()) << matches.status();
    std::set<std::string> hashed, checksummed;
    bool cache_applies = !o.exclude_in_source && !o.include;
    auto cache = cache::ChecksumCache::Open(root + "/checksums");
    ASSERT_TRUE(cache.ok()) << cache.status();
    for (const std::string& m : *matches) {
      struct stat st;
      base::UniqueFd fd(internal::OpenInRoot(src_fd.get(), m, O_PATH));  // as the copy opens it
      const bool m_is_dir = fd && ::fstat(fd.get(), &st) == 0 && S_ISDIR(st.st_mode);
      CopyOptions one = o;
      one.sources = {m.empty() ? "." : m};
      one.allow_wildcards = false;
      std::vector<std::string> entries;
      ASSERT_TRUE(HashSources(src_fd.get(), one, nullptr, &entries).ok());
      for (const std::string& e : entries) hashed.insert(DestOf(e, m, m_is_dir));
      if (!cache_applies) continue;
      auto r = ChecksumCopy(**cache, src_fd.get(), one);
      ASSERT_TRUE(r.ok()) << r.status();
      if (!r->has_value()) {
        cache_applies = false;  // a symlink source: the key comes from HashSources
        continue;
      }
      for (const cache::ChecksumEntry& e : (*r)->entries) {
        if (e.path == (m.empty() ? "." : m) && m_is_dir) continue;  // the source dir itself
        checksummed.insert(DestOf(e.path, m, m_is_dir));
      }
    }
    EXPECT_EQ(hashed, written) << "HashSources and CopyFiles disagree";
    ++compared;
    if (cache_applies) {
      EXPECT_EQ(checksummed, written) << "the checksum cache and CopyFiles disagree";
      ++cache_compared;
    }
    if (HasFailure()) {
      DumpTree(src);
      break;
    }
  }
  std::printf("cases %d: compared %d (checksum cache %d), copy refused %d\n", kCases, compared,
              cache_compared, copy_failed);
  EXPECT_GE(compared, kCases / 2) << "too few cases got to a comparison";
  EXPECT_GE(cache_compared, kCases / 5);
}

}  // namespace
}  // namespace kiln::engine
