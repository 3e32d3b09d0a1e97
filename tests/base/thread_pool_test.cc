#include "base/thread_pool.h"

#include <gtest/gtest.h>

#include <atomic>

namespace kiln::base {
namespace {

TEST(ThreadPoolTest, RunsEveryTaskAndWaitsIdle) {
  ThreadPool pool(3);
  std::atomic<int> n{0};
  for (int i = 0; i < 1000; ++i) pool.Submit([&] { n.fetch_add(1); });
  pool.WaitIdle();
  EXPECT_EQ(n.load(), 1000);
}

TEST(ThreadPoolTest, WorkerIndexIsInRange) {
  ThreadPool pool(2);
  std::atomic<int> bad{0};
  for (int i = 0; i < 100; ++i) {
    pool.Submit([&] {
      int idx = ThreadPool::CurrentWorkerIndex();
      if (idx < 0 || idx >= 2) bad.fetch_add(1);
    });
  }
  pool.WaitIdle();
  EXPECT_EQ(bad.load(), 0);
  EXPECT_EQ(ThreadPool::CurrentWorkerIndex(), -1);
}

TEST(ThreadPoolTest, DestructorDrainsQueue) {
  std::atomic<int> n{0};
  {
    ThreadPool pool(1);
    for (int i = 0; i < 50; ++i) pool.Submit([&] { n.fetch_add(1); });
  }
  EXPECT_EQ(n.load(), 50);
}

}  // namespace
}  // namespace kiln::base
