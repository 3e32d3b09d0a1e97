#include "sandbox/sandbox.h"

#include <fcntl.h>
#include <linux/capability.h>
#include <linux/sched.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <optional>

#include "absl/strings/str_cat.h"
#include "base/status.h"
#include "base/temp_dir.h"
#include "base/unique_fd.h"
#include "sandbox/init_memfd.h"
#include "sandbox/launch_plan.h"
#include "sandbox/plan_builder.h"

namespace kiln::sandbox {
namespace {

using base::UniqueFd;

struct Pipe {
  UniqueFd read;
  UniqueFd write;
};

absl::StatusOr<Pipe> MakePipe(int flags) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC | flags) != 0) return base::ErrnoError("sandbox: pipe2");
  return Pipe{UniqueFd(fds[0]), UniqueFd(fds[1])};
}

// A file in a private directory, removed when this is destroyed (a run's resolv.conf).
class ScopedFile {
 public:
  static absl::StatusOr<std::unique_ptr<ScopedFile>> Write(const std::string& dir,
                                                           const std::string& prefix,
                                                           const std::string& content) {
    static std::atomic<uint64_t> counter{0};
    std::string path = absl::StrCat(dir, "/", prefix, "-", ::getpid(), "-", counter++);
    UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
    if (!fd) return base::ErrnoError(absl::StrCat("sandbox: create '", path, "'"));
    auto file = std::unique_ptr<ScopedFile>(new ScopedFile(path));
    if (::write(fd.get(), content.data(), content.size()) != static_cast<ssize_t>(content.size())) {
      return base::ErrnoError(absl::StrCat("sandbox: write '", path, "'"));
    }
    return file;
  }
  ~ScopedFile() { ::unlink(path_.c_str()); }
  ScopedFile(const ScopedFile&) = delete;
  ScopedFile& operator=(const ScopedFile&) = delete;
  const std::string& path() const { return path_; }

 private:
  explicit ScopedFile(std::string path) : path_(std::move(path)) {}
  std::string path_;
};

// Owns the run's init: kills (SIGKILL through the pidfd) and reaps it unless already reaped.
class ScopedInit {
 public:
  ScopedInit(pid_t pid, int pidfd) : pid_(pid), pidfd_(pidfd) {}
  ~ScopedInit() {
    if (reaped_) return;
    Signal(SIGKILL);
    (void)Reap();
  }
  ScopedInit(const ScopedInit&) = delete;
  ScopedInit& operator=(const ScopedInit&) = delete;

  pid_t pid() const { return pid_; }
  int pidfd() const { return pidfd_.get(); }
  void Signal(int sig) { syscall(SYS_pidfd_send_signal, pidfd_.get(), sig, nullptr, 0); }
  // Waits for the init; returns its wait status.
  int Reap() {
    siginfo_t info{};
    while (::waitid(P_PIDFD, static_cast<id_t>(pidfd_.get()), &info, WEXITED) != 0 &&
           errno == EINTR) {
    }
    reaped_ = true;
    return info.si_code == CLD_EXITED ? W_EXITCODE(info.si_status, 0) : info.si_status;
  }

 private:
  pid_t pid_;
  UniqueFd pidfd_;
  bool reaped_ = false;
};

// The parent's side of a running init: streams output, reads reports, enforces the timeout
// and cancellation, and waits for the init to exit.
struct RunMonitor {
  const Spec& spec;
  ScopedInit& init;
  UniqueFd report, out, err;
  std::optional<internal::ChildReport> error_report;
  std::optional<internal::ChildReport> exit_report;
  bool timed_out = false, cancelled = false, term_sent = false, init_exited = false;
  absl::Time kill_at = absl::InfiniteFuture();

  void Drain(UniqueFd& fd, const OutputCallback& cb) {
    char buf[65536];
    ssize_t n = ::read(fd.get(), buf, sizeof(buf));
    if (n > 0) {
      if (cb) cb(std::string_view(buf, static_cast<size_t>(n)));
    } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
      fd.reset();
    }
  }

  void ReadReport() {
    internal::ChildReport r;
    ssize_t n = ::read(report.get(), &r, sizeof(r));
    if (n == static_cast<ssize_t>(sizeof(r))) {
      (r.kind == internal::ReportKind::kExit ? exit_report : error_report) = r;
    } else if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN)) {
      report.reset();
    }
  }

  void Terminate(absl::Time now) {
    if (term_sent) return;
    term_sent = true;
    init.Signal(SIGTERM);
    kill_at = now + spec.kill_grace;
  }

  // Runs until the init has exited and every pipe reached EOF.
  void Loop(absl::Time start) {
    absl::Time deadline =
        spec.timeout == absl::InfiniteDuration() ? absl::InfiniteFuture() : start + spec.timeout;
    int cancel_fd = spec.cancel != nullptr ? spec.cancel->fd() : -1;
    while (!init_exited || report || out || err) {
      absl::Time now = absl::Now();
      if (!init_exited && spec.cancel != nullptr && spec.cancel->cancelled() && !term_sent) {
        cancelled = true;
        Terminate(now);
      }
      if (!init_exited && now >= deadline && !term_sent) {
        timed_out = true;
        Terminate(now);
      }
      if (!init_exited && now >= kill_at) init.Signal(SIGKILL);
      absl::Time next = std::min(term_sent ? kill_at : deadline, kill_at);
      int timeout_ms =
          next == absl::InfiniteFuture()
              ? -1
              : static_cast<int>(std::max<int64_t>(0, absl::ToInt64Milliseconds(next - now) + 1));
      if (spec.cancel != nullptr && cancel_fd < 0)
        timeout_ms = std::min(timeout_ms < 0 ? 50 : timeout_ms, 50);
      pollfd fds[5] = {{report.get(), POLLIN, 0},
                       {out.get(), POLLIN, 0},
                       {err.get(), POLLIN, 0},
                       {init_exited ? -1 : init.pidfd(), POLLIN, 0},
                       {term_sent || init_exited ? -1 : cancel_fd, POLLIN, 0}};
      if (::poll(fds, 5, init_exited ? -1 : timeout_ms) < 0 && errno != EINTR) break;
      if (fds[0].revents != 0) ReadReport();
      if (fds[1].revents != 0) Drain(out, spec.on_stdout);
      if (fds[2].revents != 0) Drain(err, spec.on_stderr);
      if (fds[3].revents != 0) init_exited = true;
    }
  }
};

void FillUsage(const struct rusage& ru, ResourceUsage* u) {
  u->user_time = absl::DurationFromTimeval(ru.ru_utime);
  u->system_time = absl::DurationFromTimeval(ru.ru_stime);
  u->max_rss_kib = ru.ru_maxrss;
}

// Clones the run's pid 1 in its new namespaces. The child runs InitMainInChild and never
// returns here.
absl::StatusOr<std::unique_ptr<ScopedInit>> CloneInit(internal::LaunchPlan& plan,
                                                      NetworkMode network) {
  uint64_t flags = CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS |
                   CLONE_PIDFD | (network != NetworkMode::kHost ? CLONE_NEWNET : 0);
  int pidfd = -1;
  clone_args args{};
  args.flags = flags;
  args.pidfd = reinterpret_cast<uint64_t>(&pidfd);
  args.exit_signal = SIGCHLD;
  long pid = syscall(SYS_clone3, &args, sizeof(args));
  if (pid == 0) internal::InitMainInChild(plan);
  if (pid < 0) return base::ErrnoError("sandbox: clone3 (new user/mount/pid namespaces)");
  return std::make_unique<ScopedInit>(static_cast<pid_t>(pid), pidfd);
}

// The Result of a run whose init has been reaped without an error report.
absl::StatusOr<Result> ResultOf(const RunMonitor& mon, int init_status, absl::Time start) {
  Result result;
  result.timed_out = mon.timed_out;
  result.cancelled = mon.cancelled;
  result.wall_time = absl::Now() - start;
  if (mon.exit_report) {
    int st = mon.exit_report->wait_status;
    result.exit_code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    result.signal = WIFSIGNALED(st) ? WTERMSIG(st) : 0;
    FillUsage(mon.exit_report->usage, &result.usage);
    return result;
  }
  if (mon.term_sent) {  // killed before the worker's exit could be reported
    result.signal = SIGKILL;
    return result;
  }
  return absl::InternalError(absl::StrCat("sandbox: init exited (wait status ", init_status,
                                          ") without reporting the process's status"));
}

}  // namespace

absl::StatusOr<std::unique_ptr<Sandbox>> Sandbox::Create(SandboxOptions options) {
  std::unique_ptr<Sandbox> sb(new Sandbox());
  KILN_ASSIGN_OR_RETURN(sb->mapping_, DetectIdMapping());
  sb->limits_ = ProbeLimitLayer();
  sb->caps_ = options.capabilities;
  sb->last_cap_ = LastCapability();
  SeccompPolicy policy;
  if (options.seccomp) {
    policy = *options.seccomp;
  } else {
    KILN_ASSIGN_OR_RETURN(policy, DockerDefaultPolicy(sb->caps_));
  }
  KILN_ASSIGN_OR_RETURN(sb->filter_, CompileSeccompPolicy(policy));
  KILN_ASSIGN_OR_RETURN(sb->init_fd_, internal::MakeInitMemfd());
  KILN_ASSIGN_OR_RETURN(base::TempDir dir,
                        base::TempDir::Create("kiln-sandbox-", options.state_dir));
  sb->staging_ = dir.Release();
  KILN_ASSIGN_OR_RETURN(base::TempDir net, base::TempDir::Create("kiln-net-", options.state_dir));
  sb->net_dir_ = net.Release();
  sb->network_ = NetworkHelper::Probe(std::move(options.network));
  sb->reaper_ = std::make_unique<HelperReaper>();
  return sb;
}

Sandbox::~Sandbox() {
  if (!staging_.empty()) ::rmdir(staging_.c_str());
  if (!net_dir_.empty()) ::rmdir(net_dir_.c_str());
}

absl::StatusOr<Result> Sandbox::Run(const Spec& spec) const {
  absl::Time start = absl::Now();
  internal::LaunchPlan plan;
  // CAP_NET_RAW is useless with only `lo` and is the raw-socket attack surface: dropped there.
  uint64_t caps = caps_.mask();
  if (spec.network == NetworkMode::kNone) caps &= ~(uint64_t{1} << CAP_NET_RAW);
  internal::PlanContext ctx{&mapping_, &limits_, caps, last_cap_, &filter_, staging_, ""};
  if (spec.network == NetworkMode::kDefault && !network_.usable()) {
    return network_.Start(-1).status();  // the helper's problem, before anything starts
  }
  std::unique_ptr<ScopedFile> resolv;
  if (spec.network == NetworkMode::kDefault && spec.resolv_conf.empty()) {
    KILN_ASSIGN_OR_RETURN(std::string conf, network_.ResolvConf());
    KILN_ASSIGN_OR_RETURN(resolv, ScopedFile::Write(net_dir_, "resolv", conf));
    ctx.resolv_conf = resolv->path();
  }
  KILN_RETURN_IF_ERROR(internal::BuildLaunchPlan(spec, ctx, &plan));
  plan.wait_for_network = spec.network == NetworkMode::kDefault;
  KILN_ASSIGN_OR_RETURN(Pipe report, MakePipe(O_DIRECT));
  // A socket pair, so that a write to an init that has died is EPIPE and never SIGPIPE.
  int sp[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) != 0) {
    return base::ErrnoError("sandbox: socketpair");
  }
  Pipe sync{UniqueFd(sp[0]), UniqueFd(sp[1])};
  KILN_ASSIGN_OR_RETURN(Pipe out, MakePipe(0));
  KILN_ASSIGN_OR_RETURN(Pipe err, MakePipe(0));
  plan.report_fd = report.write.get();
  plan.sync_fd = sync.read.get();
  plan.stdout_fd = out.write.get();
  plan.stderr_fd = err.write.get();
  plan.init_image_fd = init_fd_.get();
  std::unique_ptr<RunCgroup> cgroup;
  if (limits_.layer != LimitLayer::kRlimit && (spec.pids_max > 0 || spec.memory_max_bytes > 0)) {
    KILN_ASSIGN_OR_RETURN(cgroup, RunCgroup::Create(limits_, spec.pids_max, spec.memory_max_bytes));
  }
  std::unique_ptr<HelperProcess> helper;  // stopped after the init is gone (declared first)
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<ScopedInit> init_owner, CloneInit(plan, spec.network));
  ScopedInit& init = *init_owner;
  report.write.reset();
  sync.read.reset();
  out.write.reset();
  err.write.reset();
  KILN_RETURN_IF_ERROR(WriteIdMapsFromParent(mapping_, init.pid()));
  if (cgroup) KILN_RETURN_IF_ERROR(cgroup->Attach(init.pid()));
  UniqueFd netns;  // held while the helper starts, so it never depends on the init being alive
  if (spec.network == NetworkMode::kDefault) {
    netns = UniqueFd(
        ::open(absl::StrCat("/proc/", init.pid(), "/ns/net").c_str(), O_RDONLY | O_CLOEXEC));
    if (!netns) return base::ErrnoError("sandbox: open the run's network namespace");
  }
  if (::send(sync.write.get(), "g", 1, MSG_NOSIGNAL) != 1) {
    return base::ErrnoError("sandbox: start init");
  }
  if (netns) {  // the helper starts while the init sets up; the init waits for it to be ready
    KILN_ASSIGN_OR_RETURN(helper, network_.Start(netns.get(), reaper_.get()));
    netns.reset();
    // No reader: the init failed its set-up; its report says why (below).
    (void)!::send(sync.write.get(), "n", 1, MSG_NOSIGNAL);
  }
  sync.write.reset();
  for (UniqueFd* fd : {&report.read, &out.read, &err.read}) {
    ::fcntl(fd->get(), F_SETFL, O_NONBLOCK);
  }
  RunMonitor mon{spec, init, std::move(report.read), std::move(out.read), std::move(err.read)};
  mon.Loop(start);
  int init_status = init.Reap();
  if (mon.error_report) {
    return internal::ReportToStatus(*mon.error_report, plan, spec, mapping_);
  }
  return ResultOf(mon, init_status, start);
}

}  // namespace kiln::sandbox
