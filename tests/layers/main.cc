// gtest main for the layer tests: unprivileged runs first enter a rootless user+mount
// namespace (before any thread starts), so overlay mounts and chown work as they do in Kiln.
#include <unistd.h>

#include <cstdio>

#include "base/userns.h"
#include "gtest/gtest.h"

int main(int argc, char** argv) {
  if (::geteuid() != 0) {
    auto info = kiln::base::EnterRootlessNamespace();
    if (!info.ok()) {
      std::fprintf(stderr, "FATAL: cannot enter a rootless user namespace: %s\n",
                   std::string(info.status().message()).c_str());
      return 1;
    }
    if (!info->full_mapping) {
      std::fprintf(stderr, "FATAL: rootless layer tests need a subordinate id range: %s\n",
                   info->note.c_str());
      return 1;
    }
  }
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
