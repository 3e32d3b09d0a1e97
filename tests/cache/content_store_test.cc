// One typed suite run against every ContentStore (FsContentStore and InMemoryContentStore),
// plus filesystem-only checks: restart persistence, crash safety of ingest, on-disk layout.
#include "cache/content_store.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "base/temp_dir.h"
#include "base/unique_fd.h"
#include "cache/fs_content_store.h"
#include "tests/cache/fake_clock.h"
#include "tests/fakes/in_memory_content_store.h"

namespace kiln::cache {
namespace {

using base::Digest;

using test_util::FakeClock;

struct FsStoreTraits {
  static constexpr bool kHasFiles = true;
  base::TempDir dir;
  std::unique_ptr<ContentStore> Make(FakeClock* clock) {
    auto d = base::TempDir::Create("kiln-cs-");
    EXPECT_TRUE(d.ok()) << d.status();
    dir = std::move(*d);
    FsContentStoreOptions opts;
    opts.now = clock->Fn();
    auto s = OpenFsContentStore(dir.path() + "/store", opts);
    EXPECT_TRUE(s.ok()) << s.status();
    return s.ok() ? std::move(*s) : nullptr;
  }
  void Corrupt(ContentStore* store, const Digest& d) {
    std::string path = store->PathOf(d);
    ASSERT_EQ(::chmod(path.c_str(), 0644), 0);
    base::UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
    ASSERT_TRUE(fd.valid());
    ASSERT_EQ(::pwrite(fd.get(), "Z", 1, 0), 1);
  }
};

struct MemStoreTraits {
  static constexpr bool kHasFiles = false;
  std::unique_ptr<ContentStore> Make(FakeClock* clock) {
    return std::make_unique<fakes::InMemoryContentStore>(clock->Fn());
  }
  void Corrupt(ContentStore* store, const Digest& d) {
    static_cast<fakes::InMemoryContentStore*>(store)->CorruptForTest(d);
  }
};

template <typename Traits>
class ContentStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = traits_.Make(&clock_);
    ASSERT_NE(store_, nullptr);
  }
  FakeClock clock_;
  Traits traits_;
  std::unique_ptr<ContentStore> store_;
};

using Implementations = ::testing::Types<FsStoreTraits, MemStoreTraits>;
TYPED_TEST_SUITE(ContentStoreTest, Implementations);

TYPED_TEST(ContentStoreTest, PutThenInfoReadAndHas) {
  auto info = this->store_->Put("hello", {{"a", "1"}});
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->digest, Digest::Of("hello"));
  EXPECT_EQ(info->size, 5);
  EXPECT_EQ(info->labels.at("a"), "1");
  EXPECT_EQ(info->created_at, this->clock_.Now());
  EXPECT_TRUE(this->store_->Has(info->digest));
  EXPECT_FALSE(this->store_->Has(Digest::Of("other")));
  auto got = this->store_->ReadAll(info->digest, /*verify=*/true);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, "hello");
  auto again = this->store_->Info(info->digest);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->size, 5);
  EXPECT_EQ(again->labels, info->labels);
}

TYPED_TEST(ContentStoreTest, EmptyBlob) {
  auto info = this->store_->Put("");
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->digest.hex(), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  auto got = this->store_->ReadAll(info->digest, true);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, "");
}

TYPED_TEST(ContentStoreTest, WriterStreamsChunksAndVerifiesExpected) {
  std::string big;
  for (int i = 0; i < 200'000; ++i) big += static_cast<char>('a' + i % 26);
  auto w = this->store_->Writer("layer");
  ASSERT_TRUE(w.ok()) << w.status();
  for (size_t off = 0; off < big.size(); off += 7919) {
    ASSERT_TRUE((*w)->Write(std::string_view(big).substr(off, 7919)).ok());
  }
  EXPECT_EQ((*w)->Offset(), static_cast<int64_t>(big.size()));
  EXPECT_EQ((*w)->CurrentDigest(), Digest::Of(big));
  auto info = (*w)->Commit(Digest::Of(big), {{"k", "v"}});
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->size, static_cast<int64_t>(big.size()));
  EXPECT_EQ(*this->store_->ReadAll(Digest::Of(big), true), big);
  // The writer is spent.
  EXPECT_EQ((*w)->Write("x").code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ((*w)->Commit().status().code(), absl::StatusCode::kFailedPrecondition);
}

TYPED_TEST(ContentStoreTest, CommitWithWrongDigestIsDataLossAndStoresNothing) {
  auto w = this->store_->Writer("bad");
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE((*w)->Write("actual bytes").ok());
  auto info = (*w)->Commit(Digest::Of("claimed bytes"));
  EXPECT_EQ(info.status().code(), absl::StatusCode::kDataLoss) << info.status();
  EXPECT_FALSE(this->store_->Has(Digest::Of("actual bytes")));
  EXPECT_FALSE(this->store_->Has(Digest::Of("claimed bytes")));
}

TYPED_TEST(ContentStoreTest, AbandonedWriterLeavesNothing) {
  {
    auto w = this->store_->Writer("abandon");
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE((*w)->Write("never committed").ok());
  }
  int count = 0;
  ASSERT_TRUE(this->store_->Walk([&](const BlobInfo&) { ++count; }).ok());
  EXPECT_EQ(count, 0);
}

TYPED_TEST(ContentStoreTest, DuplicateCommitReturnsExistingAndMergesLabels) {
  ASSERT_TRUE(this->store_->Put("same", {{"a", "1"}, {"b", "2"}}).ok());
  absl::Time created = this->clock_.Now();
  this->clock_.Advance(absl::Minutes(5));
  auto info = this->store_->Put("same", {{"b", "3"}, {"c", "4"}});
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->created_at, created);
  EXPECT_EQ(info->last_used, this->clock_.Now());
  std::map<std::string, std::string> want = {{"a", "1"}, {"b", "3"}, {"c", "4"}};
  EXPECT_EQ(info->labels, want);
}

TYPED_TEST(ContentStoreTest, SetLabelsMergesAndEmptyValueRemoves) {
  auto info = this->store_->Put("labelled", {{"kiln.ref.x", "1"}, {"keep", "y"}});
  ASSERT_TRUE(info.ok());
  ASSERT_TRUE(this->store_->SetLabels(info->digest, {{"kiln.ref.x", ""}, {"new", "z"}}).ok());
  auto got = this->store_->Info(info->digest);
  ASSERT_TRUE(got.ok());
  std::map<std::string, std::string> want = {{"keep", "y"}, {"new", "z"}};
  EXPECT_EQ(got->labels, want);
  EXPECT_EQ(this->store_->SetLabels(Digest::Of("absent"), {{"a", "b"}}).code(),
            absl::StatusCode::kNotFound);
}

TYPED_TEST(ContentStoreTest, TouchBumpsLastUsedOnly) {
  auto info = this->store_->Put("touch me");
  ASSERT_TRUE(info.ok());
  this->clock_.Advance(absl::Hours(3));
  ASSERT_TRUE(this->store_->Touch(info->digest).ok());
  auto got = this->store_->Info(info->digest);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->last_used, this->clock_.Now());
  EXPECT_EQ(got->created_at, this->clock_.Now() - absl::Hours(3));
  EXPECT_EQ(this->store_->Touch(Digest::Of("absent")).code(), absl::StatusCode::kNotFound);
}

TYPED_TEST(ContentStoreTest, DeleteRemovesAndMissingIsNotFound) {
  auto info = this->store_->Put("doomed");
  ASSERT_TRUE(info.ok());
  ASSERT_TRUE(this->store_->Delete(info->digest).ok());
  EXPECT_FALSE(this->store_->Has(info->digest));
  EXPECT_EQ(this->store_->Delete(info->digest).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(this->store_->Info(info->digest).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(this->store_->ReadAll(info->digest).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(this->store_->OpenRead(info->digest).status().code(), absl::StatusCode::kNotFound);
  // Re-adding after delete starts fresh (no stale labels).
  ASSERT_TRUE(this->store_->SetLabels(Digest::Of("doomed"), {}).code() ==
              absl::StatusCode::kNotFound);
  auto back = this->store_->Put("doomed");
  ASSERT_TRUE(back.ok());
  EXPECT_TRUE(back->labels.empty());
}

TYPED_TEST(ContentStoreTest, WalkListsEveryBlob) {
  std::set<Digest> want;
  for (int i = 0; i < 20; ++i) {
    auto info = this->store_->Put("blob " + std::to_string(i));
    ASSERT_TRUE(info.ok());
    want.insert(info->digest);
  }
  std::set<Digest> got;
  int64_t total = 0;
  ASSERT_TRUE(this->store_
                  ->Walk([&](const BlobInfo& b) {
                    got.insert(b.digest);
                    total += b.size;
                  })
                  .ok());
  EXPECT_EQ(got, want);
  EXPECT_EQ(total, 10 * 6 + 10 * 7);
}

TYPED_TEST(ContentStoreTest, VerifyDetectsCorruptionAsDataLoss) {
  auto info = this->store_->Put("pristine content");
  ASSERT_TRUE(info.ok());
  this->traits_.Corrupt(this->store_.get(), info->digest);
  auto unverified = this->store_->ReadAll(info->digest, false);
  ASSERT_TRUE(unverified.ok());
  EXPECT_NE(*unverified, "pristine content");
  auto verified = this->store_->ReadAll(info->digest, true);
  EXPECT_EQ(verified.status().code(), absl::StatusCode::kDataLoss) << verified.status();
}

TYPED_TEST(ContentStoreTest, OpenReadStreamsTheBytes) {
  auto info = this->store_->Put("streamed bytes");
  ASSERT_TRUE(info.ok());
  auto fd = this->store_->OpenRead(info->digest);
  ASSERT_TRUE(fd.ok()) << fd.status();
  base::UniqueFd owned(*fd);
  char buf[64];
  ssize_t n = ::read(owned.get(), buf, sizeof(buf));
  ASSERT_EQ(n, 14);
  EXPECT_EQ(std::string(buf, 14), "streamed bytes");
  EXPECT_NE(::fcntl(owned.get(), F_GETFD) & FD_CLOEXEC, 0);
}

TYPED_TEST(ContentStoreTest, ConcurrentWritersOfOneBlobAllSucceedOnce) {
  std::string payload(300'000, 'q');
  payload += "tail";
  constexpr int kThreads = 8;
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  std::vector<std::string> errors(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      auto w = this->store_->Writer("same-" + std::to_string(t));
      if (!w.ok()) {
        errors[t] = w.status().ToString();
        return;
      }
      for (size_t off = 0; off < payload.size(); off += 65536) {
        if (!(*w)->Write(std::string_view(payload).substr(off, 65536)).ok()) return;
      }
      auto info = (*w)->Commit(Digest::Of(payload), {{"w" + std::to_string(t), "1"}});
      if (info.ok()) {
        ++ok;
      } else {
        errors[t] = info.status().ToString();
      }
    });
  }
  for (auto& th : threads) th.join();
  for (const auto& e : errors) EXPECT_EQ(e, "");
  EXPECT_EQ(ok.load(), kThreads);
  int count = 0;
  ASSERT_TRUE(this->store_->Walk([&](const BlobInfo&) { ++count; }).ok());
  EXPECT_EQ(count, 1);
  auto info = this->store_->Info(Digest::Of(payload));
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->labels.size(), static_cast<size_t>(kThreads));  // every writer's labels kept
  EXPECT_EQ(*this->store_->ReadAll(Digest::Of(payload), true), payload);
}

// ---- FsContentStore only ----

class FsContentStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto d = base::TempDir::Create("kiln-fscs-");
    ASSERT_TRUE(d.ok()) << d.status();
    dir_ = std::move(*d);
    root_ = dir_.path() + "/store";
  }
  size_t CountIngest() {
    size_t n = 0;
    for ([[maybe_unused]] auto& e : std::filesystem::directory_iterator(root_ + "/ingest")) ++n;
    return n;
  }
  base::TempDir dir_;
  std::string root_;
};

TEST_F(FsContentStoreTest, OciLayoutPathsAndReadOnlyBlobs) {
  auto store = OpenFsContentStore(root_);
  ASSERT_TRUE(store.ok()) << store.status();
  auto info = (*store)->Put("layout");
  ASSERT_TRUE(info.ok());
  std::string path = root_ + "/blobs/sha256/" + info->digest.hex();
  EXPECT_EQ((*store)->PathOf(info->digest), path);
  struct stat st;
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0222, 0u) << "blob must be read-only";
  std::ifstream in(path);
  std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(content, "layout");
  EXPECT_EQ(CountIngest(), 0u);
}

// A blob bigger than the writeback chunk (8 MiB), written in odd-sized pieces: the early
// writeback hints must not change a byte, and the blob verifies on read.
TEST_F(FsContentStoreTest, LargeBlobWrittenInPiecesIsExact) {
  auto store = OpenFsContentStore(root_);
  ASSERT_TRUE(store.ok()) << store.status();
  std::string payload(21 << 20, '\0');
  for (size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<char>((i * 131) >> 7);
  auto w = (*store)->Writer("large");
  ASSERT_TRUE(w.ok()) << w.status();
  for (size_t off = 0; off < payload.size();) {
    size_t n = std::min<size_t>(payload.size() - off, 777777);
    ASSERT_TRUE((*w)->Write(payload.data() + off, n).ok());
    off += n;
  }
  auto info = (*w)->Commit(Digest::Of(payload));
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->size, static_cast<int64_t>(payload.size()));
  std::ifstream in((*store)->PathOf(info->digest), std::ios::binary);
  std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_TRUE(content == payload) << "blob bytes differ from what was written";
  EXPECT_EQ(CountIngest(), 0u);
}

// A prehashed writer (the layer encoder hashes what it writes) publishes under the digest
// Commit is given, needs one, and still refuses to commit twice.
TEST_F(FsContentStoreTest, PrehashedWriterTrustsTheGivenDigest) {
  auto store = OpenFsContentStore(root_);
  ASSERT_TRUE(store.ok()) << store.status();
  std::string payload(3 << 20, 'q');
  auto w = (*store)->PrehashedWriter("layer");
  ASSERT_TRUE(w.ok()) << w.status();
  ASSERT_TRUE((*w)->Write(payload).ok());
  EXPECT_EQ((*w)->CurrentDigest(), Digest::Of(payload)) << "CurrentDigest reads the file back";
  auto info = (*w)->Commit(Digest::Of(payload));
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->digest, Digest::Of(payload));
  auto back = (*store)->ReadAll(info->digest, /*verify=*/true);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_TRUE(*back == payload);
  EXPECT_FALSE((*w)->Commit(Digest::Of(payload)).ok());

  auto nodigest = (*store)->PrehashedWriter("layer2");
  ASSERT_TRUE(nodigest.ok());
  ASSERT_TRUE((*nodigest)->Write("x").ok());
  auto refused = (*nodigest)->Commit();
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument) << refused.status();
  EXPECT_FALSE((*store)->Has(Digest::Of("x")));
  nodigest->reset();
  EXPECT_EQ(CountIngest(), 0u) << "a refused commit leaves no ingest file";
}

TEST_F(FsContentStoreTest, MetadataSurvivesRestart) {
  absl::Time created;
  Digest d;
  {
    auto store = OpenFsContentStore(root_);
    ASSERT_TRUE(store.ok()) << store.status();
    auto info = (*store)->Put("persist", {{"kiln.ref.img", "x"}});
    ASSERT_TRUE(info.ok());
    created = info->created_at;
    d = info->digest;
  }
  auto store = OpenFsContentStore(root_);
  ASSERT_TRUE(store.ok()) << store.status();
  auto info = (*store)->Info(d);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->created_at, created);
  EXPECT_EQ(info->labels.at("kiln.ref.img"), "x");
  EXPECT_EQ(*(*store)->ReadAll(d, true), "persist");
}

TEST_F(FsContentStoreTest, BlobWithoutMetadataFallsBackToFileTimes) {
  // Simulates a crash between the rename and the metadata write.
  {
    auto store = OpenFsContentStore(root_);
    ASSERT_TRUE(store.ok());
  }
  Digest d = Digest::Of("orphan");
  std::ofstream(root_ + "/blobs/sha256/" + d.hex()) << "orphan";
  auto store = OpenFsContentStore(root_);
  ASSERT_TRUE(store.ok());
  auto info = (*store)->Info(d);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_TRUE(info->labels.empty());
  EXPECT_GT(info->created_at, absl::FromUnixSeconds(1'600'000'000));
  ASSERT_TRUE((*store)->SetLabels(d, {{"a", "b"}}).ok());
  EXPECT_EQ((*store)->Info(d)->labels.at("a"), "b");
}

TEST_F(FsContentStoreTest, KilledWriterLeavesNoBlobAndReingestWorks) {
  std::string payload(4 << 20, 'k');
  Digest d = Digest::Of(payload);
  int ready[2];
  ASSERT_EQ(::pipe2(ready, O_CLOEXEC), 0);
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    // Child: open its own store, write half the blob, report, then keep writing slowly.
    auto store = OpenFsContentStore(root_);
    if (!store.ok()) ::_exit(2);
    auto w = (*store)->Writer("child");
    if (!w.ok()) ::_exit(3);
    if (!(*w)->Write(std::string_view(payload).substr(0, payload.size() / 2)).ok()) ::_exit(4);
    if (::write(ready[1], "r", 1) != 1) ::_exit(5);
    for (;;) {
      (void)(*w)->Write("k", 1);
      ::usleep(1000);
    }
  }
  ::close(ready[1]);
  char c = 0;
  ssize_t n = ::read(ready[0], &c, 1);
  ::close(ready[0]);
  ::kill(pid, SIGKILL);
  int wstatus = 0;
  ASSERT_EQ(::waitpid(pid, &wstatus, 0), pid);
  ASSERT_EQ(n, 1) << "child failed before writing; exit " << WEXITSTATUS(wstatus);
  ASSERT_TRUE(WIFSIGNALED(wstatus));
  EXPECT_EQ(CountIngest(), 1u) << "the killed writer's temp file should still be there";

  auto store = OpenFsContentStore(root_);  // cleans stale ingests
  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_FALSE((*store)->Has(d));
  struct stat st;
  EXPECT_NE(::stat((root_ + "/blobs/sha256/" + d.hex()).c_str(), &st), 0);
  EXPECT_EQ(CountIngest(), 0u);
  auto info = (*store)->Put(payload);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->digest, d);
  EXPECT_EQ(*(*store)->ReadAll(d, true), payload);
}

TEST_F(FsContentStoreTest, TwoStoresOnOneRootInOneProcessShareMetadata) {
  auto a = OpenFsContentStore(root_);
  auto b = OpenFsContentStore(root_);
  ASSERT_TRUE(a.ok() && b.ok());
  auto info = (*a)->Put("shared", {{"x", "1"}});
  ASSERT_TRUE(info.ok());
  EXPECT_EQ((*b)->Info(info->digest)->labels.at("x"), "1");
  a->reset();  // closing one must not break the other's LMDB locks
  ASSERT_TRUE((*b)->SetLabels(info->digest, {{"y", "2"}}).ok());
  EXPECT_EQ((*b)->Info(info->digest)->labels.size(), 2u);
}

TEST_F(FsContentStoreTest, ConcurrentProcessesWriteOneBlobOnce) {
  std::string payload(1 << 20, 'p');
  payload += "end";
  constexpr int kChildren = 4;
  std::vector<pid_t> pids;
  for (int i = 0; i < kChildren; ++i) {
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      auto store = OpenFsContentStore(root_);
      if (!store.ok()) ::_exit(2);
      auto info = (*store)->Put(payload, {{"child" + std::to_string(i), "1"}});
      ::_exit(info.ok() && info->digest == Digest::Of(payload) ? 0 : 3);
    }
    pids.push_back(pid);
  }
  for (pid_t pid : pids) {
    int wstatus = 0;
    ASSERT_EQ(::waitpid(pid, &wstatus, 0), pid);
    EXPECT_TRUE(WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0) << "child status " << wstatus;
  }
  auto store = OpenFsContentStore(root_);
  ASSERT_TRUE(store.ok()) << store.status();
  int count = 0;
  ASSERT_TRUE((*store)->Walk([&](const BlobInfo&) { ++count; }).ok());
  EXPECT_EQ(count, 1);
  auto info = (*store)->Info(Digest::Of(payload));
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->labels.size(), static_cast<size_t>(kChildren));
  EXPECT_EQ(*(*store)->ReadAll(Digest::Of(payload), true), payload);
  EXPECT_EQ(CountIngest(), 0u);
}

TEST_F(FsContentStoreTest, AnotherProcessOpeningKeepsLiveIngests) {
  auto store = OpenFsContentStore(root_);
  ASSERT_TRUE(store.ok());
  auto w = (*store)->Writer("live");
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE((*w)->Write("in flight").ok());
  ASSERT_EQ(CountIngest(), 1u);
  // A second process opening the same root runs the stale-ingest cleaner.
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    auto other = OpenFsContentStore(root_);
    ::_exit(other.ok() ? 0 : 1);
  }
  int wstatus = 0;
  ASSERT_EQ(::waitpid(pid, &wstatus, 0), pid);
  ASSERT_TRUE(WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0);
  EXPECT_EQ(CountIngest(), 1u) << "a live writer's ingest file was removed";
  auto info = (*w)->Commit(Digest::Of("in flight"));
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(CountIngest(), 0u);
}

}  // namespace
}  // namespace kiln::cache
