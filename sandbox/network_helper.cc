#include "sandbox/network_helper.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "base/status.h"
#include "sandbox/helper_reaper.h"
#include "sandbox/resolv_conf.h"

namespace kiln::sandbox {
namespace {

using base::UniqueFd;

constexpr size_t kSpawnStackSize = 256 * 1024;
constexpr char kNoHelperHint[] =
    "; build with --network=none, or with --network=host (needs the network.host entitlement)";

// What the spawned child needs, prepared before clone: it only makes raw system calls.
struct SpawnPlan {
  const char* path = nullptr;
  std::vector<char*> argv;
  char* const* envp = nullptr;
  int fds[6] = {-1, -1, -1, -1, -1, -1};  // become the child's fds 0..nfds-1
  int nfds = 0;
};

// Child side (shares the parent's memory until execve: CLONE_VM|CLONE_VFORK).
int SpawnInChild(void* arg) {
  auto* p = static_cast<SpawnPlan*>(arg);
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  ::setsid();
  int moved[6];
  for (int i = 0; i < p->nfds; ++i) {
    moved[i] = ::fcntl(p->fds[i], F_DUPFD, 16);  // not CLOEXEC
    if (moved[i] < 0) ::_exit(126);
  }
  for (int i = 0; i < p->nfds; ++i) {
    if (::dup2(moved[i], i) < 0) ::_exit(126);
  }
  ::syscall(SYS_close_range, p->nfds, ~0U, 0);
  ::execve(p->path, p->argv.data(), p->envp);
  ::_exit(127);
}

// Starts `plan` as a child with a pidfd. The pid is the return value.
absl::StatusOr<pid_t> Spawn(SpawnPlan& plan, UniqueFd* pidfd) {
  std::unique_ptr<char[]> stack(new char[kSpawnStackSize]);
  int fd = -1;
  int pid = ::clone(SpawnInChild, stack.get() + kSpawnStackSize,
                    CLONE_VM | CLONE_VFORK | CLONE_PIDFD | SIGCHLD, &plan, &fd);
  if (pid < 0) return base::ErrnoError(absl::StrCat("spawn '", plan.path, "'"));
  *pidfd = UniqueFd(fd);
  return static_cast<pid_t>(pid);
}

// Waits up to `timeout` for the child behind `pidfd`; SIGKILLs it after that. Returns the
// wait status.
int WaitChild(int pidfd, absl::Duration timeout) {
  pollfd p = {pidfd, POLLIN, 0};
  int ms = static_cast<int>(absl::ToInt64Milliseconds(timeout));
  while (::poll(&p, 1, ms) < 0 && errno == EINTR) {
  }
  if (p.revents == 0) ::syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, nullptr, 0);
  siginfo_t info{};
  while (::waitid(P_PIDFD, static_cast<id_t>(pidfd), &info, WEXITED) != 0 && errno == EINTR) {
  }
  return info.si_code == CLD_EXITED ? W_EXITCODE(info.si_status, 0) : info.si_status;
}

std::string ReadLog(int fd) {
  std::string out;
  char buf[4096];
  ssize_t n;
  off_t off = 0;
  while (out.size() < 16384 && (n = ::pread(fd, buf, sizeof buf, off)) > 0) {
    out.append(buf, static_cast<size_t>(n));
    off += n;
  }
  return std::string(absl::StripTrailingAsciiWhitespace(out));
}

std::string DescribeStatus(int status) {
  if (WIFEXITED(status)) return absl::StrCat("exit status ", WEXITSTATUS(status));
  return absl::StrCat("signal ", status & 0x7f);
}

char* const kEnv[] = {const_cast<char*>("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:"
                                        "/sbin:/bin"),
                      nullptr};

// Runs `path args...` with output to a memfd; returns (wait status, output).
absl::StatusOr<std::pair<int, std::string>> RunCaptured(const std::string& path,
                                                        std::vector<std::string> args) {
  UniqueFd log(::memfd_create("kiln-probe", MFD_CLOEXEC));
  UniqueFd null(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  if (!log || !null) return base::ErrnoError("probe: memfd_create or open '/dev/null'");
  args.insert(args.begin(), path);
  SpawnPlan plan;
  plan.path = path.c_str();
  for (std::string& a : args) plan.argv.push_back(a.data());
  plan.argv.push_back(nullptr);
  plan.envp = kEnv;
  plan.fds[0] = null.get();
  plan.fds[1] = log.get();
  plan.fds[2] = log.get();
  plan.nfds = 3;
  UniqueFd pidfd;
  KILN_ASSIGN_OR_RETURN(pid_t pid, Spawn(plan, &pidfd));
  (void)pid;
  int status = WaitChild(pidfd.get(), absl::Seconds(5));
  return std::make_pair(status, ReadLog(log.get()));
}

std::string FindInPath(const std::string& name) {
  if (name.find('/') != std::string::npos) return name;
  const char* path = std::getenv("PATH");
  std::string dirs = path != nullptr && *path != '\0' ? path : "/usr/sbin:/usr/bin:/sbin:/bin";
  for (absl::string_view dir : absl::StrSplit(dirs, ':', absl::SkipEmpty())) {
    std::string candidate = absl::StrCat(dir, "/", name);
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

}  // namespace

HelperProcess::HelperProcess(pid_t pid, UniqueFd pidfd, UniqueFd exit_write, HelperReaper* reaper)
    : pid_(pid), pidfd_(std::move(pidfd)), exit_write_(std::move(exit_write)), reaper_(reaper) {}

HelperProcess::~HelperProcess() {
  if (!exit_write_) ::syscall(SYS_pidfd_send_signal, pidfd_.get(), SIGTERM, nullptr, 0);
  exit_write_.reset();  // the helper's --exit-fd sees POLLHUP and exits
  if (reaper_ != nullptr) {
    reaper_->Adopt(pid_, std::move(pidfd_));
  } else {
    (void)WaitChild(pidfd_.get(), absl::Seconds(1));
  }
}

NetworkHelper NetworkHelper::Probe(NetworkOptions options) {
  NetworkHelper h;
  h.options_ = std::move(options);
  ProbeSlirp4netns(h);
  if (h.usable() || h.options_.pasta == "none") return h;
  NetworkHelper p;
  p.options_ = h.options_;
  p.kind_ = HelperKind::kPasta;
  ProbePasta(p);
  if (p.usable()) {
    p.self_test_note_ = absl::StrCat("(slirp4netns unusable: ", h.problem_, ")");
    return p;
  }
  h.problem_ = absl::StrCat(h.problem_, "; second choice: ", p.problem_);
  h.self_test_ = p.self_test_;
  return h;
}

void NetworkHelper::ProbePasta(NetworkHelper& h) {
  std::string name = h.options_.pasta.empty() ? "pasta" : h.options_.pasta;
  h.binary_ = FindInPath(name);
  if (h.binary_.empty() || ::access(h.binary_.c_str(), X_OK) != 0) {
    h.problem_ = absl::StrCat("pasta '", name, "' not found or not executable");
    h.binary_.clear();
    return;
  }
  absl::StatusOr<std::pair<int, std::string>> version = RunCaptured(h.binary_, {"--version"});
  std::string first = version.ok() ? version->second.substr(0, version->second.find('\n')) : "";
  h.description_ = absl::StrCat(first.empty() ? "pasta ?" : first, " (", h.binary_, ")");
  absl::Status test = h.SelfTest();
  h.self_test_ = test.ok() ? "ok" : absl::StrReplaceAll(test.message(), {{kNoHelperHint, ""}});
  if (!test.ok()) {
    h.problem_ =
        absl::StrCat("network helper ", h.description_,
                     " failed its self-test (a fresh user + network namespace): ", h.self_test_);
  }
}

void NetworkHelper::ProbeSlirp4netns(NetworkHelper& h) {
  std::string name = h.options_.slirp4netns.empty() ? "slirp4netns" : h.options_.slirp4netns;
  h.binary_ = FindInPath(name);
  if (h.binary_.empty() || ::access(h.binary_.c_str(), X_OK) != 0) {
    h.problem_ = absl::StrCat("network helper '", name,
                              "' not found or not executable (install the slirp4netns package)");
    h.binary_.clear();
    return;
  }
  absl::StatusOr<std::pair<int, std::string>> version = RunCaptured(h.binary_, {"--version"});
  if (!version.ok() || version->first != 0) {
    h.problem_ = absl::StrCat("network helper '", h.binary_, "' --version failed: ",
                              version.ok() ? version->second : version.status().message());
    return;
  }
  std::string ver = "?", lib;
  for (absl::string_view line : absl::StrSplit(version->second, '\n')) {
    if (absl::ConsumePrefix(&line, "slirp4netns version ")) ver = std::string(line);
    if (absl::ConsumePrefix(&line, "libslirp: ")) lib = std::string(line);
  }
  h.description_ = absl::StrCat("slirp4netns ", ver, " (", h.binary_,
                                lib.empty() ? "" : absl::StrCat(", libslirp ", lib), ")");
  absl::StatusOr<std::pair<int, std::string>> help = RunCaptured(h.binary_, {"--help"});
  if (!help.ok() || !absl::StrContains(help->second, "--disable-dns") ||
      !absl::StrContains(help->second, "--disable-host-loopback")) {
    h.problem_ = absl::StrCat("network helper ", h.description_,
                              " lacks --disable-dns or --disable-host-loopback (needs >= 1.1.0)");
    return;
  }
  UniqueFd tun(::open(h.options_.tun_device.c_str(), O_RDWR | O_CLOEXEC));
  if (!tun) {
    h.problem_ = absl::StrCat("open '", h.options_.tun_device, "': ", std::strerror(errno),
                              " (the network helper needs it read-write as host uid of the "
                              "engine; udev makes it 0666)");
  }
}

absl::StatusOr<std::string> NetworkHelper::ResolvConf() const {
  return LoadRunResolvConf(options_.etc_resolv, options_.resolved_upstream, options_.dns_servers);
}

absl::StatusOr<std::unique_ptr<HelperProcess>> NetworkHelper::Start(int netns_fd,
                                                                    HelperReaper* reaper) const {
  if (!usable()) return absl::FailedPreconditionError(absl::StrCat(problem_, kNoHelperHint));
  if (kind_ == HelperKind::kPasta) return StartPasta(netns_fd, reaper);
  int ready[2], exitp[2];
  if (::pipe2(ready, O_CLOEXEC) != 0) return base::ErrnoError("network helper: pipe2");
  UniqueFd ready_r(ready[0]), ready_w(ready[1]);
  if (::pipe2(exitp, O_CLOEXEC) != 0) return base::ErrnoError("network helper: pipe2");
  UniqueFd exit_r(exitp[0]), exit_w(exitp[1]);
  UniqueFd log(::memfd_create("kiln-slirp4netns", MFD_CLOEXEC));
  UniqueFd null(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  if (!log || !null) return base::ErrnoError("network helper: memfd_create or open '/dev/null'");
  std::vector<std::string> args = {
      binary_,         "--configure",       "--mtu=65520",      "--disable-host-loopback",
      "--disable-dns", "--enable-sandbox",  "--enable-seccomp", "--ready-fd=3",
      "--exit-fd=4",   "--netns-type=path", "/proc/self/fd/5",  "tap0"};
  SpawnPlan plan;
  plan.path = binary_.c_str();
  for (std::string& a : args) plan.argv.push_back(a.data());
  plan.argv.push_back(nullptr);
  plan.envp = kEnv;
  int fds[6] = {null.get(), log.get(), log.get(), ready_w.get(), exit_r.get(), netns_fd};
  std::copy(fds, fds + 6, plan.fds);
  plan.nfds = 6;
  UniqueFd pidfd;
  KILN_ASSIGN_OR_RETURN(pid_t helper, Spawn(plan, &pidfd));
  ready_w.reset();
  exit_r.reset();
  pollfd p[2] = {{ready_r.get(), POLLIN, 0}, {pidfd.get(), POLLIN, 0}};
  int ms = static_cast<int>(absl::ToInt64Milliseconds(options_.ready_timeout));
  int n;
  while ((n = ::poll(p, 2, ms)) < 0 && errno == EINTR) {
  }
  char c = 0;
  if (n > 0 && (p[0].revents & POLLIN) != 0 && ::read(ready_r.get(), &c, 1) == 1 && c == '1') {
    return std::make_unique<HelperProcess>(helper, std::move(pidfd), std::move(exit_w), reaper);
  }
  exit_w.reset();
  int status = WaitChild(pidfd.get(), n == 0 ? absl::ZeroDuration() : absl::Seconds(1));
  std::string why =
      n == 0 ? absl::StrCat("not ready after ", absl::FormatDuration(options_.ready_timeout))
             : absl::StrCat("exited before it was ready (", DescribeStatus(status), ")");
  std::string out = ReadLog(log.get());
  return absl::UnavailableError(absl::StrCat("start network helper '", binary_, "': ", why,
                                             out.empty() ? "" : ": ", out, kNoHelperHint));
}

}  // namespace kiln::sandbox

namespace kiln::sandbox {
namespace {

// Whether `name` in the calling thread's network namespace is up with 10.0.2.100.
bool TapReady(const char* name) {
  UniqueFd sock(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!sock) return false;
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
  if (::ioctl(sock.get(), SIOCGIFFLAGS, &ifr) != 0 || (ifr.ifr_flags & IFF_UP) == 0) return false;
  if (::ioctl(sock.get(), SIOCGIFADDR, &ifr) != 0) return false;
  auto* in = reinterpret_cast<sockaddr_in*>(&ifr.ifr_addr);
  return in->sin_addr.s_addr == htonl(0x0a000264);  // 10.0.2.100
}

// Waits until tap0 in `netns_fd` is ready, the helper behind `pidfd` exits, or `timeout`. Looks
// from a short-lived thread that joins the namespace (setns affects that thread only).
absl::Status WaitForTap(int netns_fd, int pidfd, absl::Duration timeout) {
  absl::Status result;
  std::thread t([&] {
    if (::setns(netns_fd, CLONE_NEWNET) != 0) {
      result = base::ErrnoError("setns into the run's network namespace");
      return;
    }
    const absl::Time deadline = absl::Now() + timeout;
    for (;;) {
      if (TapReady("tap0")) return;
      pollfd p = {pidfd, POLLIN, 0};
      if (::poll(&p, 1, 1) > 0) {
        result = absl::UnavailableError("exited before tap0 was configured");
        return;
      }
      if (absl::Now() >= deadline) {
        result = absl::UnavailableError(
            absl::StrCat("tap0 not configured after ", absl::FormatDuration(timeout)));
        return;
      }
    }
  });
  t.join();
  return result;
}

// A parked process in a new user + network namespace, like a run's init: the self-test's
// target. Killed and reaped by the destructor.
class Holder {
 public:
  static absl::StatusOr<Holder> Start() {
    int pidfd = -1;
    clone_args args{};
    args.flags = CLONE_NEWUSER | CLONE_NEWNET | CLONE_PIDFD;
    args.pidfd = reinterpret_cast<uint64_t>(&pidfd);
    args.exit_signal = SIGCHLD;
    long pid = ::syscall(SYS_clone3, &args, sizeof(args));
    if (pid == 0) {  // raw system calls only
      ::syscall(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
      for (;;) ::syscall(SYS_pause);
    }
    if (pid < 0) return base::ErrnoError("self-test: clone3 (new user + network namespace)");
    Holder h;
    h.pidfd_ = UniqueFd(pidfd);
    h.netns_ =
        UniqueFd(::open(absl::StrCat("/proc/", pid, "/ns/net").c_str(), O_RDONLY | O_CLOEXEC));
    if (!h.netns_) return base::ErrnoError("self-test: open the namespace");
    return h;
  }
  Holder() = default;
  Holder(Holder&&) = default;
  ~Holder() {
    if (pidfd_) (void)WaitChild(pidfd_.get(), absl::ZeroDuration());
  }
  int netns() const { return netns_.get(); }

 private:
  UniqueFd pidfd_;
  UniqueFd netns_;
};

}  // namespace

std::vector<std::string> NetworkHelper::PastaArgs(const std::string& binary,
                                                  const std::string& netns_path) {
  return {binary, "--config-net", "-a",    "10.0.2.100",  "-n", "24",   "-g",      "10.0.2.2", "-I",
          "tap0", "-m",           "65520", "--no-map-gw", "-t", "none", "-u",      "none",     "-T",
          "none", "-U",           "none",  "-4",          "-q", "-f",   "--netns", netns_path};
}

absl::StatusOr<std::unique_ptr<HelperProcess>> NetworkHelper::StartPasta(
    int netns_fd, HelperReaper* reaper) const {
  UniqueFd log(::memfd_create("kiln-pasta", MFD_CLOEXEC));
  UniqueFd null(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  if (!log || !null) return base::ErrnoError("network helper: memfd_create or open '/dev/null'");
  // The engine's own fd, as buildah passes it: pasta may close inherited fds early.
  std::vector<std::string> args =
      PastaArgs(binary_, absl::StrCat("/proc/", ::getpid(), "/fd/", netns_fd));
  SpawnPlan plan;
  plan.path = binary_.c_str();
  for (std::string& a : args) plan.argv.push_back(a.data());
  plan.argv.push_back(nullptr);
  plan.envp = kEnv;
  int fds[3] = {null.get(), log.get(), log.get()};
  std::copy(fds, fds + 3, plan.fds);
  plan.nfds = 3;
  UniqueFd pidfd;
  KILN_ASSIGN_OR_RETURN(pid_t helper, Spawn(plan, &pidfd));
  absl::Status ready = WaitForTap(netns_fd, pidfd.get(), options_.ready_timeout);
  if (ready.ok()) {
    return std::make_unique<HelperProcess>(helper, std::move(pidfd), UniqueFd(), reaper);
  }
  ::syscall(SYS_pidfd_send_signal, pidfd.get(), SIGTERM, nullptr, 0);
  int status = WaitChild(pidfd.get(), absl::Seconds(1));
  std::string out = ReadLog(log.get());
  return absl::UnavailableError(absl::StrCat("start network helper '", binary_,
                                             "': ", ready.message(), " (", DescribeStatus(status),
                                             ")", out.empty() ? "" : ": ", out, kNoHelperHint));
}

absl::Status NetworkHelper::SelfTest() const {
  if (binary_.empty()) return absl::FailedPreconditionError(problem_);
  KILN_ASSIGN_OR_RETURN(Holder holder, Holder::Start());
  NetworkHelper h = *this;
  h.problem_.clear();
  h.options_.ready_timeout = std::min(options_.ready_timeout, absl::Seconds(5));
  absl::StatusOr<std::unique_ptr<HelperProcess>> started = h.Start(holder.netns());
  if (!started.ok()) return started.status();
  if (kind_ == HelperKind::kSlirp4netns) {
    KILN_RETURN_IF_ERROR(WaitForTap(holder.netns(), -1, absl::Seconds(1)));
  }
  return absl::OkStatus();
}

}  // namespace kiln::sandbox
