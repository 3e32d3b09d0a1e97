// Helpers shared by the snapshotter tests: the suite's root dir, mounting described mounts,
// and reading/writing small trees.
#ifndef KILN_TESTS_SNAPSHOTTER_TEST_UTIL_H_
#define KILN_TESTS_SNAPSHOTTER_TEST_UTIL_H_

#include <sys/types.h>

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "base/mount.h"
#include "base/status.h"

namespace kiln::snapshotter::testing {

// The directory every test of this binary works under (made by test_main.cc).
const std::string& TestRoot();

// A new, empty, uniquely named directory under TestRoot().
std::string NewDir(std::string_view hint);

// Mounts `mounts` on `target`; the returned ScopedMount unmounts them.
absl::StatusOr<base::ScopedMount> MountOn(const std::vector<base::Mount>& mounts,
                                          const std::string& target);

absl::Status WriteFile(const std::string& path, std::string_view content, mode_t mode = 0644);
absl::StatusOr<std::string> ReadFile(const std::string& path);

using Tree = std::map<std::string, std::string>;

// Every entry under `root` (relative path -> description): "dir 0755", "file 0644 <content>",
// "link <target>", "fifo 0644", "chr 0/0". Symlinks are not followed.
absl::StatusOr<std::map<std::string, std::string>> ReadTree(const std::string& root);

}  // namespace kiln::snapshotter::testing

namespace kiln::snapshotter::testing {
inline absl::Status StatusOf(const absl::Status& s) { return s; }
template <typename T>
absl::Status StatusOf(const absl::StatusOr<T>& s) {
  return s.status();
}
}  // namespace kiln::snapshotter::testing

#define KILN_TEST_CONCAT_INNER_(a, b) a##b
#define KILN_TEST_CONCAT_(a, b) KILN_TEST_CONCAT_INNER_(a, b)
// Both accept a trailing "<< message".
#define KILN_ASSERT_OK(expr)                                                            \
  if (const absl::Status kiln_s_ = ::kiln::snapshotter::testing::StatusOf(expr);        \
      kiln_s_.ok()) {                                                                   \
  } else                                                                                \
    FAIL() << #expr << ": " << kiln_s_ << " "
#define KILN_EXPECT_OK(expr)                                                            \
  if (const absl::Status kiln_s_ = ::kiln::snapshotter::testing::StatusOf(expr);        \
      kiln_s_.ok()) {                                                                   \
  } else                                                                                \
    ADD_FAILURE() << #expr << ": " << kiln_s_ << " "
#define KILN_ASSERT_OK_AND_ASSIGN(lhs, expr) \
  KILN_ASSERT_OK_AND_ASSIGN_IMPL_(KILN_TEST_CONCAT_(kiln_sor_, __LINE__), lhs, expr)
#define KILN_ASSERT_OK_AND_ASSIGN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                   \
  ASSERT_TRUE(tmp.ok()) << #expr << ": " << tmp.status(); \
  lhs = std::move(*tmp)

#endif  // KILN_TESTS_SNAPSHOTTER_TEST_UTIL_H_
