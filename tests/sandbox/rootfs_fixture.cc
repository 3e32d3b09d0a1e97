#include "tests/sandbox/rootfs_fixture.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "base/status.h"

namespace kiln::sandbox::testing {
namespace {

absl::Status WriteText(const std::string& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
  if (!out) return absl::InternalError("write '" + path + "'");
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> BusyboxApplets() {
  FILE* p = ::popen("/bin/busybox --list", "re");
  if (p == nullptr) return base::ErrnoError("popen '/bin/busybox --list'");
  std::string all;
  char buf[4096];
  for (size_t n; (n = std::fread(buf, 1, sizeof(buf), p)) > 0;) all.append(buf, n);
  if (::pclose(p) != 0 || all.empty()) {
    return absl::FailedPreconditionError(
        "/bin/busybox --list failed: the busybox-static package is required for these tests");
  }
  return std::vector<std::string>(absl::StrSplit(all, '\n', absl::SkipEmpty()));
}

}  // namespace

absl::StatusOr<BusyboxRootfs> BusyboxRootfs::Create() {
  BusyboxRootfs r;
  KILN_ASSIGN_OR_RETURN(r.dir, base::TempDir::Create("kiln-sbtest-"));
  ::chmod(r.dir.path().c_str(), 0755);
  r.root = r.dir.path() + "/rootfs";
  for (const char* d : {"", "/bin", "/etc", "/tmp", "/root", "/home", "/home/app"}) {
    if (::mkdir((r.root + d).c_str(), 0755) != 0) return base::ErrnoError("mkdir rootfs");
  }
  ::chmod((r.root + "/tmp").c_str(), 01777);
  KILN_RETURN_IF_ERROR(r.AddFile("/bin/busybox", "bin/busybox", 0755));
  KILN_ASSIGN_OR_RETURN(std::vector<std::string> applets, BusyboxApplets());
  for (const std::string& a : applets) {
    if (a == "busybox") continue;
    if (::symlink("busybox", (r.root + "/bin/" + a).c_str()) != 0) {
      return base::ErrnoError("symlink applet '" + a + "'");
    }
  }
  KILN_RETURN_IF_ERROR(WriteText(r.root + "/etc/passwd",
                                 "root:x:0:0:root:/root:/bin/sh\n"
                                 "app:x:1000:1000:app:/home/app:/bin/sh\n"
                                 "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"));
  KILN_RETURN_IF_ERROR(WriteText(r.root + "/etc/group",
                                 "root:x:0:\nwheel:x:10:root,app\nstaff:x:50:app\n"
                                 "app:x:1000:\nnogroup:x:65534:\n"));
  return r;
}

absl::Status BusyboxRootfs::AddFile(const std::string& src, const std::string& dst,
                                    unsigned mode) const {
  std::ifstream in(src, std::ios::binary);
  if (!in) return base::ErrnoError("open '" + src + "'");
  std::string path = root + "/" + dst;
  std::ofstream out(path, std::ios::binary);
  out << in.rdbuf();
  out.close();
  if (!out) return absl::InternalError("copy '" + src + "' to '" + path + "'");
  if (::chmod(path.c_str(), mode) != 0) return base::ErrnoError("chmod '" + path + "'");
  return absl::OkStatus();
}

const Sandbox& SharedSandbox() {
  // Destroyed at exit, which removes its staging directory.
  static std::unique_ptr<Sandbox> sb = [] {
    auto created = Sandbox::Create();
    if (!created.ok()) {
      std::fprintf(stderr, "FATAL: Sandbox::Create: %s\n",
                   std::string(created.status().message()).c_str());
      std::abort();
    }
    return std::move(*created);
  }();
  return *sb;
}

Captured RunCaptured(Spec spec) {
  Captured c;
  spec.on_stdout = [&c](std::string_view s) { c.out.append(s); };
  spec.on_stderr = [&c](std::string_view s) { c.err.append(s); };
  c.result = SharedSandbox().Run(spec);
  return c;
}

Spec ShellSpec(const BusyboxRootfs& rootfs, const std::string& script) {
  Spec spec;
  spec.argv = {"/bin/sh", "-c", script};
  spec.env = {"PATH=/bin", "HOME=/root"};
  spec.rootfs = {rootfs.BindMount()};
  spec.kill_grace = absl::Milliseconds(500);
  return spec;
}

std::vector<pid_t> ChildPids() {
  std::vector<pid_t> out;
  DIR* d = ::opendir("/proc");
  if (d == nullptr) return out;
  pid_t self = ::getpid();
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    std::ifstream in(absl::StrCat("/proc/", e->d_name, "/stat"));
    std::string line;
    std::getline(in, line);
    size_t paren = line.rfind(')');
    if (paren == std::string::npos) continue;
    std::istringstream rest(line.substr(paren + 2));
    std::string state;
    pid_t ppid = 0;
    rest >> state >> ppid;
    if (ppid == self) out.push_back(std::atoi(e->d_name));
  }
  ::closedir(d);
  return out;
}

std::vector<std::string> MountPoints() {
  std::vector<std::string> out;
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  while (std::getline(in, line)) {
    std::vector<std::string> f = absl::StrSplit(line, ' ');
    // Only ours: other tests share the host mount namespace.
    if (f.size() > 4 &&
        (absl::StrContains(f[4], "/kiln-sb") || absl::StrContains(f[4], "/kiln-sandbox-"))) {
      out.push_back(f[4]);
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace kiln::sandbox::testing
