// FileOp's memo of COPY --from content: a copy out of a committed snapshot is hashed once per
// (snapshot, selection), then neither mounted nor read again, also after a restart; and the
// memo never changes a cache key. Real overlay snapshots, mounts and files.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "base/temp_dir.h"
#include "base/unique_fd.h"
#include "engine/copy/context_checksums.h"
#include "engine/ops/file_op.h"
#include "engine/ops/results.h"
#include "engine/ops/tree_access.h"
#include "engine/ops/worker.h"
#include "engine/solver/cancellation.h"
#include "engine/solver/vertex.h"
#include "snapshotter/overlay_snapshotter.h"
#include "tests/engine/copy/null_context.h"

namespace kiln::engine {
namespace {

// Forwards to a real snapshotter and counts the views made (one per mount of a copy source).
class CountingSnapshotter final : public snapshotter::Snapshotter {
 public:
  explicit CountingSnapshotter(snapshotter::Snapshotter* s) : s_(s) {}
  absl::StatusOr<snapshotter::Info> Stat(std::string_view k) override { return s_->Stat(k); }
  absl::StatusOr<snapshotter::DiskUsage> Usage(std::string_view k) override { return s_->Usage(k); }
  absl::StatusOr<std::vector<base::Mount>> Mounts(std::string_view k) override {
    return s_->Mounts(k);
  }
  absl::StatusOr<std::vector<base::Mount>> Prepare(std::string_view k, std::string_view p,
                                                   const snapshotter::Labels& l) override {
    return s_->Prepare(k, p, l);
  }
  absl::StatusOr<std::vector<base::Mount>> View(std::string_view k, std::string_view p,
                                                const snapshotter::Labels& l) override {
    views.fetch_add(1);
    return s_->View(k, p, l);
  }
  absl::Status Commit(std::string_view n, std::string_view k,
                      const snapshotter::Labels& l) override {
    return s_->Commit(n, k, l);
  }
  absl::Status Remove(std::string_view k) override { return s_->Remove(k); }
  absl::Status Walk(const snapshotter::WalkFn& fn, const snapshotter::WalkFilter& f) override {
    return s_->Walk(fn, f);
  }
  std::atomic<int> views{0};

 private:
  snapshotter::Snapshotter* s_;
};

graph::FileAction CopyOf(std::vector<std::string> sources, std::string dest) {
  graph::FileAction a;
  a.kind = graph::FileAction::Kind::kCopy;
  a.src_input = 1;
  a.src_paths = std::move(sources);
  a.path = std::move(dest);
  return a;
}

class FileOpMemoTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = base::TempDir::Create("file-op-memo-");
    ASSERT_TRUE(dir.ok()) << dir.status();
    dir_ = std::move(*dir);
    ASSERT_EQ(::mkdir((dir_.path() + "/tmp").c_str(), 0700), 0);
    auto snaps = snapshotter::OverlaySnapshotter::Open(dir_.path() + "/snapshots");
    ASSERT_TRUE(snaps.ok()) << snaps.status();
    overlay_ = std::move(*snaps);
    counting_ = std::make_unique<CountingSnapshotter>(overlay_.get());
    OpenWorker();
  }

  // A fresh ContextChecksums on the same state dir: what a kilnd restart sees.
  void OpenWorker() {
    checksums_ = std::make_unique<ContextChecksums>(dir_.path() + "/checksums");
    worker_.snapshots = counting_.get();
    worker_.driver = "overlay";
    worker_.root = dir_.path();
    worker_.tmp = dir_.path() + "/tmp";
    worker_.checksums = checksums_.get();
  }

  // Commits a snapshot holding /bin/app with `content` (and /bin/other), named `name`.
  void MakeSnapshot(const std::string& name, const std::string& content) {
    std::string key = "prep-" + name;
    snapshotter::Snapshotter* snaps = overlay_.get();  // (the defaults live on the interface)
    auto mounts = snaps->Prepare(key, "");
    ASSERT_TRUE(mounts.ok()) << mounts.status();
    {
      auto m = MountedSnapshot::Mount(worker_, *mounts);
      ASSERT_TRUE(m.ok()) << m.status();
      auto root = m->OpenRoot();
      ASSERT_TRUE(root.ok()) << root.status();
      ASSERT_EQ(::mkdirat(root->get(), "bin", 0755), 0);
      for (const auto& [file, bytes] : {std::pair{"bin/app", content}, {"bin/other", "x"}}) {
        base::UniqueFd fd(::openat(root->get(), file, O_WRONLY | O_CREAT | O_CLOEXEC, 0755));
        ASSERT_TRUE(fd) << file;
        ASSERT_EQ(::write(fd.get(), bytes.data(), bytes.size()),
                  static_cast<ssize_t>(bytes.size()));
      }
      root->reset();
      ASSERT_TRUE(m->Unmount().ok());
    }
    ASSERT_TRUE(snaps->Commit(name, key).ok());
  }

  // FileOp::CacheKey of `action` copying out of snapshot `from` onto scratch.
  absl::StatusOr<base::Digest> KeyOf(const graph::FileAction& action, const std::string& definition,
                                     const std::string& from) {
    MountTreeAccess trees(worker_.tmp);
    graph::FileOp f;
    f.actions = {action};
    auto op = std::make_shared<FileOp>(
        std::move(f), definition, FileOpDeps{counting_.get(), &trees, worker_.checksums, nullptr});
    auto v = solver::Vertex::Create(base::Digest::Of(definition), op, {}, {});
    if (!v.ok()) return v.status();
    NullContext ctx(**v);
    std::vector<solver::InputRef> inputs = {
        {v->get(), base::Digest::Of("scratch"), std::make_shared<SnapshotResult>("")},
        {v->get(), base::Digest::Of(from), std::make_shared<SnapshotResult>(from)}};
    return op->CacheKey(ctx, inputs);
  }

  base::TempDir dir_;
  std::unique_ptr<snapshotter::OverlaySnapshotter> overlay_;
  std::unique_ptr<CountingSnapshotter> counting_;
  std::unique_ptr<ContextChecksums> checksums_;
  Worker worker_;
};

TEST_F(FileOpMemoTest, SecondKeyOfTheSameSnapshotNeitherMountsNorReads) {
  MakeSnapshot("s-one", "hello");
  graph::FileAction app = CopyOf({"/bin/app"}, "/app");
  auto first = KeyOf(app, "def-app", "s-one");
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(counting_->views.load(), 1);
  for (int i = 0; i < 3; ++i) {
    auto again = KeyOf(app, "def-app", "s-one");
    ASSERT_TRUE(again.ok()) << again.status();
    EXPECT_EQ(*again, *first);
  }
  EXPECT_EQ(counting_->views.load(), 1) << "a memoized copy mounted its source again";
  EXPECT_EQ(checksums_->snapshot_copy_hits(), 3);

  // The memo never changes the key: the same copy without the memo hashes to the same key.
  worker_.checksums = nullptr;
  auto plain = KeyOf(app, "def-app", "s-one");
  ASSERT_TRUE(plain.ok()) << plain.status();
  EXPECT_EQ(*plain, *first);
  EXPECT_EQ(counting_->views.load(), 2);
}

TEST_F(FileOpMemoTest, OtherSnapshotOrSelectionIsHashedAgain) {
  MakeSnapshot("s-one", "hello");
  MakeSnapshot("s-two", "changed");
  MakeSnapshot("s-same", "hello");  // another snapshot with the same bytes
  graph::FileAction app = CopyOf({"/bin/app"}, "/app");
  auto one = KeyOf(app, "def-app", "s-one");
  ASSERT_TRUE(one.ok()) << one.status();

  auto two = KeyOf(app, "def-app", "s-two");
  ASSERT_TRUE(two.ok()) << two.status();
  EXPECT_NE(*two, *one) << "different content in another snapshot gave the memoized key";
  EXPECT_EQ(counting_->views.load(), 2);

  auto same = KeyOf(app, "def-app", "s-same");
  ASSERT_TRUE(same.ok()) << same.status();
  EXPECT_EQ(*same, *one) << "identical bytes must keep the copy cached (early cutoff)";
  EXPECT_EQ(counting_->views.load(), 3);

  // Another selection out of the same snapshot: a different op definition, hashed afresh.
  graph::FileAction other = CopyOf({"/bin/other"}, "/app");
  auto sel = KeyOf(other, "def-other", "s-one");
  ASSERT_TRUE(sel.ok()) << sel.status();
  EXPECT_EQ(counting_->views.load(), 4);
  worker_.checksums = nullptr;
  auto sel_plain = KeyOf(other, "def-other", "s-one");
  ASSERT_TRUE(sel_plain.ok()) << sel_plain.status();
  EXPECT_EQ(*sel, *sel_plain);
  EXPECT_EQ(checksums_->snapshot_copy_hits(), 0);
}

TEST_F(FileOpMemoTest, MemoSurvivesARestartAndACorruptFileStartsEmpty) {
  MakeSnapshot("s-one", "hello");
  graph::FileAction app = CopyOf({"/bin/app"}, "/app");
  auto first = KeyOf(app, "def-app", "s-one");
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_TRUE(checksums_->SaveAll().ok());

  OpenWorker();
  auto after = KeyOf(app, "def-app", "s-one");
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(*after, *first);
  EXPECT_EQ(counting_->views.load(), 1) << "the persisted memo was not used after a restart";
  EXPECT_EQ(checksums_->snapshot_copy_hits(), 1);

  // A truncated memo file is ignored as a whole (the copy is hashed again, same key).
  std::string path = dir_.path() + "/checksums/snapshot-copies";
  struct stat st;
  ASSERT_EQ(::stat(path.c_str(), &st), 0) << path;
  ASSERT_EQ(::truncate(path.c_str(), st.st_size - 3), 0);
  OpenWorker();
  auto corrupt = KeyOf(app, "def-app", "s-one");
  ASSERT_TRUE(corrupt.ok()) << corrupt.status();
  EXPECT_EQ(*corrupt, *first);
  EXPECT_EQ(counting_->views.load(), 2);
  EXPECT_EQ(checksums_->snapshot_copy_hits(), 0);
}

TEST_F(FileOpMemoTest, MissingSourceFailsAndIsNotMemoized) {
  MakeSnapshot("s-one", "hello");
  graph::FileAction missing = CopyOf({"/bin/nope"}, "/app");
  EXPECT_FALSE(KeyOf(missing, "def-missing", "s-one").ok());
  EXPECT_FALSE(KeyOf(missing, "def-missing", "s-one").ok());
  EXPECT_EQ(counting_->views.load(), 2);
}

}  // namespace
}  // namespace kiln::engine
