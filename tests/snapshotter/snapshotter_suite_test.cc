// The Snapshotter contract, run against every implementation (overlay, native, in-memory
// fake). Nothing here mounts; tests/snapshotter/mounting_test.cc covers real mounts.
#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/snapshotter/impls.h"
#include "tests/snapshotter/test_util.h"

namespace kiln::snapshotter::testing {
namespace {

template <typename Impl>
class SnapshotterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = NewDir(Impl::kName);
    KILN_ASSERT_OK_AND_ASSIGN(sn_, Impl::Open(root_));
  }

  // Prepare(key, parent) + Commit(name, key).
  absl::Status MakeCommitted(const std::string& name, const std::string& parent) {
    std::string key = name + "-active";
    absl::StatusOr<std::vector<base::Mount>> m = sn_->Prepare(key, parent);
    if (!m.ok()) return m.status();
    return sn_->Commit(name, key);
  }

  std::string root_;
  std::unique_ptr<Snapshotter> sn_;
};

using AllImpls = ::testing::Types<OverlayImpl, NativeImpl, InMemoryImpl>;
TYPED_TEST_SUITE(SnapshotterTest, AllImpls, ImplName);

TYPED_TEST(SnapshotterTest, Lifecycle) {
  Snapshotter& sn = *this->sn_;
  absl::Time before = absl::Now();
  KILN_ASSERT_OK_AND_ASSIGN(auto mounts, sn.Prepare("a", "", {{"l", "1"}}));
  EXPECT_EQ(mounts.size(), 1u);
  KILN_ASSERT_OK_AND_ASSIGN(Info a, sn.Stat("a"));
  EXPECT_EQ(a.kind, Kind::kActive);
  EXPECT_EQ(a.name, "a");
  EXPECT_EQ(a.parent, "");
  EXPECT_EQ(a.labels, (Labels{{"l", "1"}}));
  EXPECT_GE(a.created, before);
  KILN_ASSERT_OK_AND_ASSIGN(auto again, sn.Mounts("a"));
  EXPECT_EQ(again, mounts);

  KILN_ASSERT_OK(sn.Commit("base", "a", {{"c", "2"}}));
  EXPECT_EQ(sn.Stat("a").status().code(), absl::StatusCode::kNotFound);
  KILN_ASSERT_OK_AND_ASSIGN(Info base, sn.Stat("base"));
  EXPECT_EQ(base.kind, Kind::kCommitted);
  EXPECT_EQ(base.name, "base");
  EXPECT_EQ(base.labels, (Labels{{"c", "2"}}));
  EXPECT_EQ(base.created, a.created);
  EXPECT_GE(base.updated, base.created);

  KILN_ASSERT_OK(sn.Prepare("b", "base").status());
  KILN_ASSERT_OK(sn.View("v", "base").status());
  KILN_ASSERT_OK_AND_ASSIGN(Info b, sn.Stat("b"));
  EXPECT_EQ(b.parent, "base");
  KILN_ASSERT_OK_AND_ASSIGN(Info v, sn.Stat("v"));
  EXPECT_EQ(v.kind, Kind::kView);
  EXPECT_EQ(v.parent, "base");
  KILN_ASSERT_OK_AND_ASSIGN(auto view_mounts, sn.Mounts("v"));
  ASSERT_EQ(view_mounts.size(), 1u);
  {
    bool ro = false;
    for (const auto& o : view_mounts[0].options) ro = ro || o == "ro";
    EXPECT_TRUE(ro) << "a view must mount read-only";
  }
  KILN_EXPECT_OK(sn.Usage("b"));
  KILN_EXPECT_OK(sn.Usage("base"));

  EXPECT_EQ(sn.Mounts("base").status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(sn.Remove("base").code(), absl::StatusCode::kFailedPrecondition);
  KILN_ASSERT_OK(sn.Remove("b"));
  EXPECT_EQ(sn.Remove("base").code(), absl::StatusCode::kFailedPrecondition);
  KILN_ASSERT_OK(sn.Remove("v"));
  KILN_ASSERT_OK(sn.Remove("base"));
  int count = 0;
  KILN_ASSERT_OK(sn.Walk([&](const Info&) {
    ++count;
    return absl::OkStatus();
  }));
  EXPECT_EQ(count, 0);
}

TYPED_TEST(SnapshotterTest, ErrorCodes) {
  Snapshotter& sn = *this->sn_;
  using C = absl::StatusCode;
  EXPECT_EQ(sn.Prepare("", "").status().code(), C::kInvalidArgument);
  EXPECT_EQ(sn.Stat("").status().code(), C::kInvalidArgument);
  EXPECT_EQ(sn.Prepare("x", "missing").status().code(), C::kNotFound);
  EXPECT_EQ(sn.View("x", "missing").status().code(), C::kNotFound);
  EXPECT_EQ(sn.Stat("x").status().code(), C::kNotFound);
  EXPECT_EQ(sn.Mounts("x").status().code(), C::kNotFound);
  EXPECT_EQ(sn.Usage("x").status().code(), C::kNotFound);
  EXPECT_EQ(sn.Remove("x").code(), C::kNotFound);
  EXPECT_EQ(sn.Commit("n", "x").code(), C::kNotFound);

  KILN_ASSERT_OK(sn.Prepare("act", "").status());
  EXPECT_EQ(sn.Prepare("act", "").status().code(), C::kAlreadyExists);
  EXPECT_EQ(sn.View("act", "").status().code(), C::kAlreadyExists);
  EXPECT_EQ(sn.Prepare("child", "act").status().code(), C::kInvalidArgument);
  KILN_ASSERT_OK(this->MakeCommitted("c1", ""));
  EXPECT_EQ(sn.Commit("c1", "act").code(), C::kAlreadyExists);
  EXPECT_EQ(sn.Commit("c2", "c1").code(), C::kFailedPrecondition);
  KILN_ASSERT_OK(sn.View("view", "c1").status());
  EXPECT_EQ(sn.Commit("c3", "view").code(), C::kFailedPrecondition);
  EXPECT_EQ(sn.Prepare("child", "view").status().code(), C::kInvalidArgument);
  // Failed calls changed nothing.
  KILN_ASSERT_OK_AND_ASSIGN(Info act, sn.Stat("act"));
  EXPECT_EQ(act.kind, Kind::kActive);
  KILN_ASSERT_OK(sn.Commit("c2", "act"));
}

TYPED_TEST(SnapshotterTest, WalkFiltersAndStops) {
  Snapshotter& sn = *this->sn_;
  KILN_ASSERT_OK(this->MakeCommitted("c1", ""));
  KILN_ASSERT_OK(this->MakeCommitted("c2", "c1"));
  KILN_ASSERT_OK(sn.Prepare("a1", "c2", {{"team", "x"}}).status());
  KILN_ASSERT_OK(sn.View("v1", "c1", {{"team", "y"}}).status());

  std::vector<std::string> all;
  KILN_ASSERT_OK(sn.Walk([&](const Info& i) {
    all.push_back(i.name);
    return absl::OkStatus();
  }));
  EXPECT_EQ(all, (std::vector<std::string>{"a1", "c1", "c2", "v1"}));

  std::vector<std::string> committed;
  KILN_ASSERT_OK(sn.Walk(
      [&](const Info& i) {
        committed.push_back(i.name);
        return absl::OkStatus();
      },
      [](const Info& i) { return i.kind == Kind::kCommitted; }));
  EXPECT_EQ(committed, (std::vector<std::string>{"c1", "c2"}));

  std::vector<std::string> labelled;
  KILN_ASSERT_OK(sn.Walk(
      [&](const Info& i) {
        labelled.push_back(i.name);
        return absl::OkStatus();
      },
      [](const Info& i) { return i.labels.contains("team"); }));
  EXPECT_EQ(labelled, (std::vector<std::string>{"a1", "v1"}));

  int calls = 0;
  absl::Status s = sn.Walk([&](const Info&) {
    ++calls;
    return absl::CancelledError("stop");
  });
  EXPECT_EQ(s.code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(calls, 1);
}

TYPED_TEST(SnapshotterTest, ConcurrentPrepareAndCommit) {
  Snapshotter& sn = *this->sn_;
  KILN_ASSERT_OK(this->MakeCommitted("base", ""));
  constexpr int kThreads = 6;
  constexpr int kPerThread = 15;
  std::atomic<int> failures{0};
  std::vector<std::string> errors(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::string parent = "base";
      for (int i = 0; i < kPerThread; ++i) {
        std::string key = absl::StrCat("t", t, "-", i);
        absl::Status s = sn.Prepare(key + "-a", parent).status();
        if (s.ok()) s = sn.Commit(key, key + "-a");
        if (s.ok()) s = sn.View(key + "-v", "base").status();
        if (!s.ok()) {
          ++failures;
          errors[t] = s.ToString();
          return;
        }
        parent = key;
      }
    });
  }
  for (auto& t : threads) t.join();
  ASSERT_EQ(failures.load(), 0) << errors[0] << errors[1] << errors[2];
  int committed = 0, views = 0;
  KILN_ASSERT_OK(sn.Walk([&](const Info& i) {
    committed += i.kind == Kind::kCommitted;
    views += i.kind == Kind::kView;
    return absl::OkStatus();
  }));
  EXPECT_EQ(committed, 1 + kThreads * kPerThread);
  EXPECT_EQ(views, kThreads * kPerThread);
  for (int t = 0; t < kThreads; ++t) {
    KILN_ASSERT_OK_AND_ASSIGN(Info last, sn.Stat(absl::StrCat("t", t, "-", kPerThread - 1)));
    EXPECT_EQ(last.parent, absl::StrCat("t", t, "-", kPerThread - 2));
  }
}

TYPED_TEST(SnapshotterTest, ConcurrentSameKeyHasOneWinner) {
  Snapshotter& sn = *this->sn_;
  KILN_ASSERT_OK(this->MakeCommitted("base", ""));
  for (int round = 0; round < 5; ++round) {
    std::string key = absl::StrCat("contested-", round);
    std::atomic<int> ok{0}, exists{0}, other{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&] {
        absl::Status s = sn.Prepare(key, "base").status();
        if (s.ok()) {
          ++ok;
        } else if (s.code() == absl::StatusCode::kAlreadyExists) {
          ++exists;
        } else {
          ++other;
        }
      });
    }
    for (auto& t : threads) t.join();
    EXPECT_EQ(ok.load(), 1);
    EXPECT_EQ(exists.load(), 3);
    EXPECT_EQ(other.load(), 0);
  }
}

TYPED_TEST(SnapshotterTest, DeepChainOfEmptyLayersKeepsMountsBounded) {
  Snapshotter& sn = *this->sn_;
  std::string parent;
  for (int i = 0; i < 1000; ++i) {
    std::string name = absl::StrCat("c", i);
    KILN_ASSERT_OK(this->MakeCommitted(name, parent));
    parent = name;
  }
  KILN_ASSERT_OK_AND_ASSIGN(Info top, sn.Stat("c999"));
  EXPECT_EQ(top.parent, "c998");
  KILN_ASSERT_OK_AND_ASSIGN(auto mounts, sn.Prepare("top", "c999"));
  ASSERT_EQ(mounts.size(), 1u);
  EXPECT_LE(LowerCount(mounts[0]), 128);
  KILN_ASSERT_OK_AND_ASSIGN(auto view, sn.View("top-view", "c999"));
  ASSERT_EQ(view.size(), 1u);
  EXPECT_LE(LowerCount(view[0]), 128);
  // Tear down from the top: each removal frees the next parent.
  KILN_ASSERT_OK(sn.Remove("top"));
  KILN_ASSERT_OK(sn.Remove("top-view"));
  for (int i = 999; i >= 0; --i) {
    KILN_ASSERT_OK(sn.Remove(absl::StrCat("c", i)));
  }
}

}  // namespace
}  // namespace kiln::snapshotter::testing
