// The fixture and helpers shared by the mounting tests (mounting_test.cc,
// mounting_crash_test.cc): real mounts on the on-disk snapshotters.
#ifndef KILN_TESTS_SNAPSHOTTER_MOUNTING_FIXTURE_H_
#define KILN_TESTS_SNAPSHOTTER_MOUNTING_FIXTURE_H_

#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/temp_dir.h"
#include "gtest/gtest.h"
#include "tests/snapshotter/impls.h"
#include "tests/snapshotter/test_util.h"

namespace kiln::snapshotter::testing {

template <typename Impl>
class MountingTest : public ::testing::Test {
 public:  // also used by helpers below
  void SetUp() override {
    root_ = NewDir(std::string(Impl::kName) + "-root");
    mnt_ = NewDir("mnt");
  }

  absl::StatusOr<std::unique_ptr<Snapshotter>> Open(LocalSnapshotterOptions o = {}) {
    return Impl::Open(root_, o);
  }

  // Prepares `key` on `parent`, mounts it on mnt_, runs `edit(mnt_)`, unmounts, commits.
  absl::Status Layer(Snapshotter& sn, const std::string& name, const std::string& parent,
                     const std::function<absl::Status(const std::string&)>& edit) {
    std::string key = name + "-active";
    KILN_ASSIGN_OR_RETURN(std::vector<base::Mount> mounts, sn.Prepare(key, parent));
    {
      KILN_ASSIGN_OR_RETURN(base::ScopedMount m, MountOn(mounts, mnt_));
      KILN_RETURN_IF_ERROR(edit(mnt_));
      KILN_RETURN_IF_ERROR(m.Reset());
    }
    return sn.Commit(name, key);
  }

  // The tree of committed `name`, read through a temporary view.
  absl::StatusOr<Tree> TreeOf(Snapshotter& sn, const std::string& name) {
    std::string key = name + "-view";
    KILN_ASSIGN_OR_RETURN(std::vector<base::Mount> mounts, sn.View(key, name));
    absl::StatusOr<Tree> tree;
    {
      KILN_ASSIGN_OR_RETURN(base::ScopedMount m, MountOn(mounts, mnt_));
      tree = ReadTree(mnt_);
    }
    KILN_RETURN_IF_ERROR(sn.Remove(key));
    return tree;
  }

  // Directories under <root>/snapshots (one per snapshot record, see local_snapshotter.h).
  int SnapshotDirs() {
    int n = 0;
    for (const auto& e : std::filesystem::directory_iterator(root_ + "/snapshots")) {
      (void)e;
      ++n;
    }
    return n;
  }
  int Records(Snapshotter& sn) {
    int n = 0;
    (void)sn.Walk([&](const Info&) {
      ++n;
      return absl::OkStatus();
    });
    return n;
  }

  std::string root_;
  std::string mnt_;
};

inline absl::Status Run(bool ok, std::string_view what) {
  if (ok) return absl::OkStatus();
  return base::ErrnoError(what);
}

inline absl::Status MakeBase(const std::string& m) {
  KILN_RETURN_IF_ERROR(WriteFile(m + "/file1", "one", 0640));
  KILN_RETURN_IF_ERROR(Run(::mkdir((m + "/d").c_str(), 0750) == 0, "mkdir d"));
  KILN_RETURN_IF_ERROR(WriteFile(m + "/d/x", "x"));
  KILN_RETURN_IF_ERROR(WriteFile(m + "/d/y", "y"));
  KILN_RETURN_IF_ERROR(Run(::mkdir((m + "/e").c_str(), 0755) == 0, "mkdir e"));
  KILN_RETURN_IF_ERROR(WriteFile(m + "/e/f", "f"));
  KILN_RETURN_IF_ERROR(Run(::mkdir((m + "/o").c_str(), 0755) == 0, "mkdir o"));
  KILN_RETURN_IF_ERROR(WriteFile(m + "/o/1", "1"));
  KILN_RETURN_IF_ERROR(WriteFile(m + "/o/2", "2"));
  KILN_RETURN_IF_ERROR(Run(::symlink("file1", (m + "/link").c_str()) == 0, "symlink"));
  KILN_RETURN_IF_ERROR(Run(::link((m + "/file1").c_str(), (m + "/hl").c_str()) == 0, "link"));
  KILN_RETURN_IF_ERROR(Run(::mkfifo((m + "/p").c_str(), 0600) == 0, "mkfifo"));
  KILN_RETURN_IF_ERROR(
      Run(::setxattr((m + "/file1").c_str(), "user.k", "v", 1, 0) == 0, "setxattr"));
  return absl::OkStatus();
}

inline const Tree kBaseTree = {
    {"d", "dir 0750"},       {"d/x", "file 0644 x"}, {"d/y", "file 0644 y"},
    {"e", "dir 0755"},       {"e/f", "file 0644 f"}, {"file1", "file 0640 one"},
    {"hl", "file 0640 one"}, {"link", "link file1"}, {"o", "dir 0755"},
    {"o/1", "file 0644 1"},  {"o/2", "file 0644 2"}, {"p", "fifo 0600"},
};

inline absl::Status EditChild(const std::string& m) {
  KILN_ASSIGN_OR_RETURN(std::string one, ReadFile(m + "/file1"));
  if (one != "one") return absl::InternalError("child does not see the parent's file1");
  char v[4] = {};
  if (::getxattr((m + "/file1").c_str(), "user.k", v, sizeof v) != 1 || v[0] != 'v') {
    return absl::InternalError("child does not see the parent's xattr");
  }
  KILN_RETURN_IF_ERROR(WriteFile(m + "/new", "two"));
  KILN_RETURN_IF_ERROR(Run(::unlink((m + "/d/x").c_str()) == 0, "unlink d/x"));
  KILN_RETURN_IF_ERROR(Run(::chmod((m + "/d").c_str(), 0700) == 0, "chmod d"));
  std::error_code ec;
  std::filesystem::remove_all(m + "/e", ec);
  std::filesystem::remove_all(m + "/o", ec);
  KILN_RETURN_IF_ERROR(Run(!ec, "remove e, o"));
  KILN_RETURN_IF_ERROR(Run(::mkdir((m + "/o").c_str(), 0711) == 0, "mkdir o"));
  KILN_RETURN_IF_ERROR(WriteFile(m + "/o/3", "3"));
  KILN_RETURN_IF_ERROR(Run(::unlink((m + "/p").c_str()) == 0, "unlink p"));
  return absl::OkStatus();
}

}  // namespace kiln::snapshotter::testing

#endif  // KILN_TESTS_SNAPSHOTTER_MOUNTING_FIXTURE_H_
