// gtest main for the layer tests: unprivileged runs first enter a rootless user+mount
// namespace (before any thread starts), so overlay mounts and chown work as they do in Kiln.
// Root runs enter a private mount namespace, so a crashed test cannot leave mounts on the host.
#include <sched.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

#include "base/userns.h"
#include "gtest/gtest.h"

int main(int argc, char** argv) {
  if (::geteuid() == 0) {
    if (::unshare(CLONE_NEWNS) != 0 ||
        ::mount("", "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
      std::fprintf(stderr, "FATAL: cannot enter a private mount namespace: %s\n",
                   std::strerror(errno));
      return 1;
    }
  } else {
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
