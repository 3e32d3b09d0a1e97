// gtest main for suites that also run as an unprivileged user: enters the rootless
// user+mount namespace first (before any thread exists), as kilnd does.
#include <unistd.h>

#include <cstdio>

#include <gtest/gtest.h>

#include "base/userns.h"

int main(int argc, char** argv) {
  if (::geteuid() != 0) {
    auto info = kiln::base::EnterRootlessNamespace();
    if (!info.ok()) {
      std::fprintf(stderr, "FATAL: cannot enter the rootless namespace: %s\n",
                   std::string(info.status().message()).c_str());
      return 1;
    }
    std::fprintf(stderr, "rootless: uid %u in a user namespace, %s mapping%s%s\n",
                 info->host_uid, info->full_mapping ? "full" : "single-id",
                 info->note.empty() ? "" : ": ", info->note.c_str());
  }
  testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
