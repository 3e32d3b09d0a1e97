// gtest main for snapshotter_test: enters a rootless user+mount namespace first when not
// root (before any thread exists), makes the suite's root dir, and after the run fails the
// binary if any mount is left under that root.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "base/mount.h"
#include "base/temp_dir.h"
#include "base/userns.h"
#include "gtest/gtest.h"
#include "tests/snapshotter/test_util.h"

namespace kiln::snapshotter::testing {
namespace {
std::string* g_root = nullptr;

// Mount points (field 5 of mountinfo) at or under `root`.
std::vector<std::string> MountsUnder(const std::string& root) {
  std::vector<std::string> out;
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string f[5];
    for (auto& x : f) fields >> x;
    if (f[4] == root || f[4].rfind(root + "/", 0) == 0) out.push_back(f[4]);
  }
  return out;
}
}  // namespace

const std::string& TestRoot() { return *g_root; }

}  // namespace kiln::snapshotter::testing

int main(int argc, char** argv) {
  if (::geteuid() != 0) {
    auto info = kiln::base::EnterRootlessNamespace();
    if (!info.ok()) {
      std::fprintf(stderr, "FATAL: cannot enter a rootless namespace: %s\n",
                   std::string(info.status().message()).c_str());
      return 1;
    }
    std::fprintf(stderr, "[rootless] user namespace entered; full mapping: %s %s\n",
                 info->full_mapping ? "yes" : "no", info->note.c_str());
  }
  ::testing::InitGoogleTest(&argc, argv);
  auto root = kiln::base::TempDir::Create("kiln-snapshotter-test-");
  if (!root.ok()) {
    std::fprintf(stderr, "FATAL: %s\n", std::string(root.status().message()).c_str());
    return 1;
  }
  kiln::snapshotter::testing::g_root = new std::string(root->path());
  int rc = RUN_ALL_TESTS();
  auto leftovers = kiln::snapshotter::testing::MountsUnder(root->path());
  for (auto it = leftovers.rbegin(); it != leftovers.rend(); ++it) {
    std::fprintf(stderr, "LEFTOVER MOUNT: %s\n", it->c_str());
    (void)kiln::base::Unmount(*it);
  }
  if (!leftovers.empty()) {
    std::fprintf(stderr, "FAIL: %zu mounts left under the test root\n", leftovers.size());
    rc = 1;
  }
  delete kiln::snapshotter::testing::g_root;
  return rc;
}
