// main() for sandbox_nested_test: the same suites, run from inside a rootless-bootstrapped user
// namespace (base::EnterRootlessNamespace), i.e. the sandbox's "nested" identity situation.
// Registered only for the unprivileged test users (as root no namespace would be entered).
#include <unistd.h>

#include <cstdio>

#include "base/userns.h"
#include "gtest/gtest.h"

int main(int argc, char** argv) {
  if (::geteuid() == 0) {
    std::fprintf(stderr,
                 "FATAL: sandbox_nested_test must run as an unprivileged user "
                 "(tests/run_as_user.sh); as root no user namespace is entered\n");
    return 1;
  }
  auto info = kiln::base::EnterRootlessNamespace();
  if (!info.ok()) {
    std::fprintf(stderr, "FATAL: EnterRootlessNamespace: %s\n",
                 std::string(info.status().message()).c_str());
    return 1;
  }
  if (!kiln::base::InUserNamespace()) {
    std::fprintf(stderr, "FATAL: EnterRootlessNamespace did not enter a user namespace\n");
    return 1;
  }
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
