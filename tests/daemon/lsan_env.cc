// Points LeakSanitizer in the processes these tests start (kilnctl, kilnd) at lsan.supp, a
// narrow list of known leaks outside the daemon's code. Everything else stays leak-checked.
#include <cstdlib>
#include <string>

namespace {

struct LsanEnv {
  LsanEnv() {
    std::string options = std::string("suppressions=") + KILN_DAEMON_TEST_DIR + "/lsan.supp";
    if (const char* old = std::getenv("LSAN_OPTIONS"); old != nullptr && *old != '\0') {
      options = std::string(old) + ":" + options;
    }
    setenv("LSAN_OPTIONS", options.c_str(), 1);
  }
} lsan_env;

}  // namespace
