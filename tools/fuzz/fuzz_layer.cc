// libFuzzer target: the layer applier and its decoder (gzip, zstd or plain tar, sniffed), the
// code that unpacks registry and archive layers, which are untrusted. Each input is applied to
// a fresh directory `root` inside a private work directory; afterwards nothing but `root` may
// exist there (an entry created outside the target is a bug: abort), and `root` is removed.
//
// The process first enters a user namespace of its own with one id mapped (0 -> the caller),
// so the fuzzed tar cannot create device nodes or files owned by anyone else on the host even
// when the fuzzer runs as root: mknod fails with EPERM (the applier skips the entry) and ids
// other than 0 are mapped to 0 (UnmappedIds::kMapToRoot).
#include <fcntl.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>

#include "base/fs.h"
#include "snapshotter/diff/applier.h"
#include "snapshotter/diff/sink.h"

namespace {

std::string g_work;  // private work directory (mkdtemp), holds only "root" between runs
int g_work_fd = -1;

void WriteProcFile(const char* path, const std::string& text) {
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0 || write(fd, text.data(), text.size()) != static_cast<ssize_t>(text.size())) {
    std::perror(path);
    std::abort();
  }
  close(fd);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  uid_t uid = getuid();
  gid_t gid = getgid();
  if (unshare(CLONE_NEWUSER) != 0) {
    std::perror("fuzz_layer: unshare(CLONE_NEWUSER)");
    std::abort();
  }
  WriteProcFile("/proc/self/setgroups", "deny");
  WriteProcFile("/proc/self/uid_map", "0 " + std::to_string(uid) + " 1\n");
  WriteProcFile("/proc/self/gid_map", "0 " + std::to_string(gid) + " 1\n");
  const char* tmp = getenv("TMPDIR");
  std::string tmpl = std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") +
                     "/kiln-fuzz-layer-XXXXXX";
  if (mkdtemp(tmpl.data()) == nullptr) {
    std::perror("fuzz_layer: mkdtemp");
    std::abort();
  }
  g_work = tmpl;
  g_work_fd = open(g_work.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (g_work_fd < 0) std::abort();
  // Removed at exit (a crash leaves it for the report; it is under TMPDIR and private).
  std::atexit([] {
    (void)kiln::base::RemoveTreeAt(g_work_fd, "root");
    rmdir(g_work.c_str());
  });
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 1024 * 1024) return 0;
  if (mkdirat(g_work_fd, "root", 0755) != 0) std::abort();
  kiln::snapshotter::StringSource source(
      std::string_view(reinterpret_cast<const char*>(data), size));
  kiln::snapshotter::ApplyOptions options;
  options.unmapped_ids = kiln::snapshotter::UnmappedIds::kMapToRoot;
  (void)kiln::snapshotter::ApplyLayer(&source, g_work + "/root", options);
  // Nothing may appear next to the target.
  auto names = kiln::base::ListDirNames(g_work_fd);
  if (!names.ok() || names->size() != 1 || (*names)[0] != "root") {
    std::fprintf(stderr, "fuzz_layer: the layer wrote outside its target in %s\n",
                 g_work.c_str());
    std::abort();
  }
  if (!kiln::base::RemoveTreeAt(g_work_fd, "root").ok()) std::abort();
  return 0;
}
