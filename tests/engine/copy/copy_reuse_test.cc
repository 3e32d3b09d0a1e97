// Incremental COPY from the build context (engine/copy/copy_reuse.h): a COPY that ran before
// on the same snapshot links its unchanged files from the earlier result instead of copying
// them, and the result is exactly what a full copy gives. Real overlay snapshots, mounts,
// files and hard links (as root, and in the rootless namespace).
#include "engine/copy/copy_reuse.h"

#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/mount.h"
#include "base/temp_dir.h"
#include "base/unique_fd.h"
#include "engine/ops/file_op.h"
#include "engine/ops/results.h"
#include "engine/ops/tree_access.h"
#include "engine/ops/worker.h"
#include "engine/solver/vertex.h"
#include "snapshotter/overlay_snapshotter.h"
#include "tests/engine/copy/null_context.h"

namespace kiln::engine {
namespace {

void WriteFile(const std::string& path, const std::string& bytes, mode_t mode = 0644) {
  base::UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode));
  ASSERT_TRUE(fd) << path;
  ASSERT_EQ(::write(fd.get(), bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
}

std::string ReadAt(int dir, const std::string& rel) {
  base::UniqueFd fd(::openat(dir, rel.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd) return "<missing>";
  std::string out;
  char buf[4096];
  for (ssize_t n; (n = ::read(fd.get(), buf, sizeof buf)) > 0;) out.append(buf, n);
  return out;
}

// Everything a copy decides about one entry (directory mtimes excepted: a directory's own
// mtime moves whenever an entry is added to it).
struct Node {
  mode_t mode;
  uid_t uid;
  gid_t gid;
  int64_t mtime;
  std::string content;  // file bytes or symlink target
  friend bool operator==(const Node&, const Node&) = default;
};

void Walk(int dir, const std::string& rel, std::map<std::string, Node>& out) {
  base::UniqueFd d(::openat(dir, rel.empty() ? "." : rel.c_str(),
                            O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  ASSERT_TRUE(d) << rel;
  DIR* ds = ::fdopendir(::dup(d.get()));
  ASSERT_NE(ds, nullptr);
  std::vector<std::string> names;
  while (struct dirent* e = ::readdir(ds)) {
    std::string n = e->d_name;
    if (n != "." && n != "..") names.push_back(n);
  }
  ::closedir(ds);
  for (const std::string& n : names) {
    std::string path = rel.empty() ? n : rel + "/" + n;
    struct stat st;
    ASSERT_EQ(::fstatat(dir, path.c_str(), &st, AT_SYMLINK_NOFOLLOW), 0) << path;
    Node node{st.st_mode, st.st_uid, st.st_gid, S_ISDIR(st.st_mode) ? 0 : st.st_mtim.tv_sec, ""};
    if (S_ISREG(st.st_mode)) node.content = ReadAt(dir, path);
    if (S_ISLNK(st.st_mode)) {
      char t[4096];
      ssize_t k = ::readlinkat(dir, path.c_str(), t, sizeof t);
      node.content.assign(t, k > 0 ? k : 0);
    }
    out[path] = node;
    if (S_ISDIR(st.st_mode)) Walk(dir, path, out);
  }
}

class CopyReuseTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = base::TempDir::Create("copy-reuse-");
    ASSERT_TRUE(dir.ok()) << dir.status();
    dir_ = std::move(*dir);
    ASSERT_EQ(::mkdir((dir_.path() + "/tmp").c_str(), 0700), 0);
    auto snaps = snapshotter::OverlaySnapshotter::Open(dir_.path() + "/snapshots");
    ASSERT_TRUE(snaps.ok()) << snaps.status();
    snaps_ = std::move(*snaps);
    worker_.snapshots = snaps_.get();
    worker_.driver = "overlay";
    worker_.root = dir_.path();
    worker_.tmp = dir_.path() + "/tmp";
    Restart();
    ctx_ = dir_.path() + "/context";
    ASSERT_EQ(::mkdir(ctx_.c_str(), 0755), 0);
    ASSERT_EQ(::mkdir((ctx_ + "/src").c_str(), 0755), 0);
    for (const char* sub : {"a", "b", "b/deep"}) {
      ASSERT_EQ(::mkdir((ctx_ + "/src/" + sub).c_str(), 0755), 0);
    }
    for (int i = 0; i < 40; ++i) {
      WriteFile(absl::StrCat(ctx_, "/src/a/f", i), absl::StrCat("file ", i), 0644);
    }
    WriteFile(ctx_ + "/src/b/deep/tool", "#!/bin/sh\n", 0755);
    ASSERT_EQ(::symlink("../a/f1", (ctx_ + "/src/b/link").c_str()), 0);
    MakeBase();
  }

  // What a kilnd restart sees: a new memo object over the same state dir.
  void Restart() {
    reuse_ = std::make_unique<CopyReuse>(dir_.path() + "/copy-reuse");
    worker_.copy_reuse = reuse_.get();
  }

  // The destination's parent: a committed layer holding /etc and an existing /dst/keep.
  void MakeBase() {
    snapshotter::Snapshotter* s = snaps_.get();
    auto mounts = s->Prepare("prep-base", "");
    ASSERT_TRUE(mounts.ok()) << mounts.status();
    auto m = MountedSnapshot::Mount(worker_, *mounts);
    ASSERT_TRUE(m.ok()) << m.status();
    ASSERT_EQ(::mkdir((m->path() + "/etc").c_str(), 0755), 0);
    ASSERT_EQ(::mkdir((m->path() + "/dst").c_str(), 0750), 0);
    ASSERT_EQ(::mkdir((m->path() + "/dst/a").c_str(), 0700), 0);
    WriteFile(m->path() + "/dst/keep", "from the base");
    WriteFile(m->path() + "/dst/a/f3", "shadowed by the copy");
    ASSERT_TRUE(m->Unmount().ok());
    ASSERT_TRUE(s->Commit("base", "prep-base").ok());
  }

  // Runs `COPY src /dst/` from the context onto "base"; the result snapshot's name.
  std::string Copy() {
    graph::FileAction a;
    a.kind = graph::FileAction::Kind::kCopy;
    a.src_input = 1;
    a.src_paths = {"src"};
    a.path = "/dst/";
    graph::FileOp f;
    f.actions = {a};
    MountTreeAccess trees(worker_.tmp);
    auto op = std::make_shared<FileOp>(
        std::move(f), "def-copy-src",
        FileOpDeps{worker_.snapshots, &trees, worker_.checksums, worker_.copy_reuse});
    auto v = solver::Vertex::Create(base::Digest::Of("copy vertex"), op, {}, {});
    EXPECT_TRUE(v.ok()) << v.status();
    if (!v.ok()) return "";
    NullContext ctx(**v);
    std::vector<solver::InputRef> inputs = {
        {v->get(), base::Digest::Of("base"), std::make_shared<SnapshotResult>("base")},
        {v->get(), base::Digest::Of("ctx"), std::make_shared<ContextResult>(ctx_)}};
    auto r = op->Exec(ctx, inputs);
    EXPECT_TRUE(r.ok()) << r.status();
    if (!r.ok()) return "";
    return dynamic_cast<const SnapshotResult&>(**r).snapshot();
  }

  std::map<std::string, Node> TreeOf(const std::string& snapshot) {
    std::map<std::string, Node> out;
    std::string key = NewSnapshotKey("view");
    auto mounts = Snaps()->View(key, snapshot);
    EXPECT_TRUE(mounts.ok()) << mounts.status();
    if (!mounts.ok()) return out;
    {
      auto m = MountedSnapshot::Mount(worker_, *mounts);
      EXPECT_TRUE(m.ok()) << m.status();
      if (m.ok()) {
        base::UniqueFd root(::open(m->path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        Walk(root.get(), "", out);
        EXPECT_TRUE(m->Unmount().ok());
      }
    }
    EXPECT_TRUE(snaps_->Remove(key).ok());
    return out;
  }

  // What a full copy (no reuse) of the current context gives.
  std::map<std::string, Node> Reference() {
    worker_.copy_reuse = nullptr;
    std::string full = Copy();
    worker_.copy_reuse = reuse_.get();
    auto tree = TreeOf(full);
    EXPECT_TRUE(snaps_->Remove(full).ok());
    return tree;
  }

  // The inode of `rel` in committed snapshot `name`'s own layer.
  ino_t InodeIn(const std::string& name, const std::string& rel) {
    std::string key = NewSnapshotKey("view");
    auto mounts = Snaps()->View(key, name);
    if (!mounts.ok()) return 0;
    std::vector<std::string> lowers = base::OverlayOption((*mounts)[0], "lowerdir");
    std::string layer = lowers.empty() ? "" : lowers[0];
    struct stat st;
    ino_t ino = ::lstat((layer + "/" + rel).c_str(), &st) == 0 ? st.st_ino : 0;
    EXPECT_TRUE(snaps_->Remove(key).ok());
    return ino;
  }

  // Through the interface, where the default arguments live.
  snapshotter::Snapshotter* Snaps() { return snaps_.get(); }

  base::TempDir dir_;
  std::unique_ptr<snapshotter::OverlaySnapshotter> snaps_;
  std::unique_ptr<CopyReuse> reuse_;
  Worker worker_;
  std::string ctx_;
};

TEST_F(CopyReuseTest, UnchangedFilesAreLinkedAndTheResultIsAFullCopy) {
  int64_t linked0 = CopyReuse::files_linked();
  std::string first = Copy();
  ASSERT_FALSE(first.empty());
  EXPECT_EQ(CopyReuse::files_linked(), linked0) << "nothing to reuse on the first copy";
  auto first_tree = TreeOf(first);
  ASSERT_EQ(first_tree.at("dst/a/f3").content, "file 3");

  // Change one file's bytes, touch another (same bytes, new mtime), chmod a third, delete one,
  // add one, and turn a directory into a symlink.
  WriteFile(ctx_ + "/src/a/f3", "file 3, edited");
  struct timespec later[2] = {{0, UTIME_OMIT}, {1'700'000'000, 0}};
  ASSERT_EQ(::utimensat(AT_FDCWD, (ctx_ + "/src/a/f4").c_str(), later, 0), 0);
  ASSERT_EQ(::chmod((ctx_ + "/src/a/f5").c_str(), 0600), 0);
  ASSERT_EQ(::unlink((ctx_ + "/src/a/f6").c_str()), 0);
  WriteFile(ctx_ + "/src/a/new", "new file");
  ASSERT_EQ(::unlink((ctx_ + "/src/b/deep/tool").c_str()), 0);
  ASSERT_EQ(::rmdir((ctx_ + "/src/b/deep").c_str()), 0);
  ASSERT_EQ(::symlink("../a", (ctx_ + "/src/b/deep").c_str()), 0);

  std::string second = Copy();
  ASSERT_FALSE(second.empty());
  // 40 files in a/, f3..f6 excluded: 36 linked; b/deep/tool's source is now behind a symlink.
  EXPECT_EQ(CopyReuse::files_linked() - linked0, 36);
  EXPECT_EQ(TreeOf(second), Reference()) << "an incremental copy differs from a full copy";

  EXPECT_EQ(InodeIn(second, "dst/a/f1"), InodeIn(first, "dst/a/f1")) << "f1 was not linked";
  EXPECT_NE(InodeIn(second, "dst/a/f3"), InodeIn(first, "dst/a/f3"));
  EXPECT_NE(InodeIn(second, "dst/a/f4"), InodeIn(first, "dst/a/f4"));
  EXPECT_EQ(InodeIn(second, "dst/a/f6"), 0u) << "a deleted source's file came back";

  // The earlier result is untouched: shared inodes are never written through.
  EXPECT_EQ(TreeOf(first), first_tree);
}

TEST_F(CopyReuseTest, ReusedAfterARestartAndNotAfterTheEarlierResultIsGone) {
  std::string first = Copy();
  ASSERT_FALSE(first.empty());
  WriteFile(ctx_ + "/src/a/f0", "edited");
  Restart();  // the manifest comes from disk now
  int64_t linked0 = CopyReuse::files_linked();
  std::string second = Copy();
  ASSERT_FALSE(second.empty());
  EXPECT_EQ(CopyReuse::files_linked() - linked0, 40) << "39 in a/ and b/deep/tool";
  auto second_tree = TreeOf(second);
  EXPECT_EQ(second_tree.at("dst/a/f0").content, "edited");

  // The memo now points at `second`; once it is removed a copy is a plain full copy.
  ASSERT_TRUE(snaps_->Remove(second).ok());
  WriteFile(ctx_ + "/src/a/f1", "edited too");
  linked0 = CopyReuse::files_linked();
  std::string third = Copy();
  ASSERT_FALSE(third.empty());
  EXPECT_EQ(CopyReuse::files_linked(), linked0);
  EXPECT_EQ(TreeOf(third), Reference());
}

TEST_F(CopyReuseTest, ACorruptManifestMeansAFullCopy) {
  ASSERT_FALSE(Copy().empty());
  DIR* d = ::opendir((dir_.path() + "/copy-reuse").c_str());
  ASSERT_NE(d, nullptr);
  int files = 0;
  while (struct dirent* e = ::readdir(d)) {
    if (e->d_name[0] == '.') continue;
    std::string path = dir_.path() + "/copy-reuse/" + e->d_name;
    struct stat st;
    ASSERT_EQ(::stat(path.c_str(), &st), 0);
    ASSERT_EQ(::truncate(path.c_str(), st.st_size / 2), 0);
    ++files;
  }
  ::closedir(d);
  ASSERT_EQ(files, 1);
  Restart();
  int64_t linked0 = CopyReuse::files_linked();
  std::string again = Copy();
  ASSERT_FALSE(again.empty());
  EXPECT_EQ(CopyReuse::files_linked(), linked0);
  EXPECT_EQ(TreeOf(again), Reference());
}

TEST(CopyReuseStore, KeepsTheNewestManifestsOnly) {
  auto dir = base::TempDir::Create("copy-reuse-store-");
  ASSERT_TRUE(dir.ok()) << dir.status();
  CopyReuse store(dir->path() + "/m");
  std::vector<std::string> keys;
  for (int i = 0; i < 70; ++i) {
    keys.push_back(CopyReuse::KeyOf("parent", "/ctx", absl::StrCat("def-", i)));
    CopyManifest m;
    m.snapshot = absl::StrCat("s-", i);
    m.entries.push_back({"dst/f", "src/f", CopySourceId{1, 2, 3, 4, 5, 0100644, 0, 0}});
    ASSERT_TRUE(store.Record(keys.back(), std::move(m)).ok());
    struct timespec t[2] = {{0, UTIME_OMIT}, {1'000'000 + i, 0}};  // strictly ordered mtimes
    ASSERT_EQ(::utimensat(AT_FDCWD, (dir->path() + "/m/" + keys.back()).c_str(), t, 0), 0);
  }
  int files = 0;
  DIR* d = ::opendir((dir->path() + "/m").c_str());
  ASSERT_NE(d, nullptr);
  while (struct dirent* e = ::readdir(d)) files += e->d_name[0] != '.';
  ::closedir(d);
  EXPECT_EQ(files, 64);
  CopyReuse reopened(dir->path() + "/m");
  EXPECT_EQ(reopened.Find(keys[0]), nullptr) << "the oldest manifest was kept";
  auto newest = reopened.Find(keys[69]);
  ASSERT_NE(newest, nullptr);
  EXPECT_EQ(newest->snapshot, "s-69");
  ASSERT_EQ(newest->entries.size(), 1u);
  EXPECT_EQ(newest->entries[0].src_rel, "src/f");
  EXPECT_EQ(newest->entries[0].id, (CopySourceId{1, 2, 3, 4, 5, 0100644, 0, 0}));
  reopened.Forget(keys[69]);
  EXPECT_EQ(CopyReuse(dir->path() + "/m").Find(keys[69]), nullptr);
}

}  // namespace
}  // namespace kiln::engine
