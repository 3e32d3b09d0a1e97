// bench_sandbox: `/bin/true` start-to-exit through the full sandbox (new user, mount, pid, ipc,
// uts [+net] namespaces, rootfs + /proc + /dev + /sys mounts, pivot_root, caps, seccomp, exec,
// reap). Method and figures: bench/sandbox/README.md.
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "base/temp_dir.h"
#include "benchmark/benchmark.h"
#include "sandbox/sandbox.h"

namespace kiln::sandbox {
namespace {

// A minimal rootfs: busybox with a `true` applet link, /etc/passwd.
struct Rootfs {
  base::TempDir dir;
  std::string root;
};

Rootfs& SharedRootfs() {
  static std::unique_ptr<Rootfs> r = [] {
    auto dir = base::TempDir::Create("kiln-sb-bench-");
    if (!dir.ok()) std::abort();
    auto rf = std::make_unique<Rootfs>(Rootfs{std::move(*dir), ""});
    ::chmod(rf->dir.path().c_str(), 0755);
    rf->root = rf->dir.path() + "/rootfs";
    for (const char* d : {"", "/bin", "/etc", "/tmp", "/upper", "/work"}) {
      ::mkdir((rf->root + d).c_str(), 0755);
    }
    std::ifstream in("/bin/busybox", std::ios::binary);
    std::ofstream out(rf->root + "/bin/busybox", std::ios::binary);
    out << in.rdbuf();
    out.close();
    ::chmod((rf->root + "/bin/busybox").c_str(), 0755);
    (void)!::symlink("busybox", (rf->root + "/bin/true").c_str());
    std::ofstream(rf->root + "/etc/passwd") << "root:x:0:0:root:/root:/bin/sh\n";
    return rf;
  }();
  return *r;
}

const Sandbox& SharedSandbox() {
  static std::unique_ptr<Sandbox> sb = [] {
    auto created = Sandbox::Create();
    if (!created.ok()) {
      std::fprintf(stderr, "Sandbox::Create: %s\n",
                   std::string(created.status().message()).c_str());
      std::abort();
    }
    return std::move(*created);
  }();
  return *sb;
}

double ChildCpuMs() {
  rusage ru{};
  ::getrusage(RUSAGE_CHILDREN, &ru);
  return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
         (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
}

// Reports, besides wall time, the CPU time of the run's processes (pid 1, worker, newuidmap)
// per run: "child_cpu_ms", which load on the machine does not inflate the way it does wall time.
void RunTrue(benchmark::State& state, const Spec& spec) {
  const Sandbox& sb = SharedSandbox();
  double cpu0 = ChildCpuMs();
  for (auto _ : state) {
    absl::StatusOr<Result> r = sb.Run(spec);
    if (!r.ok() || r->exit_code != 0) {
      state.SkipWithError(r.ok() ? "non-zero exit" : std::string(r.status().message()).c_str());
      break;
    }
  }
  state.counters["child_cpu_ms"] =
      benchmark::Counter((ChildCpuMs() - cpu0) / static_cast<double>(state.iterations()));
}

Spec TrueSpec(NetworkMode net) {
  Spec spec;
  spec.argv = {"/bin/true"};
  spec.rootfs = {base::Mount{"bind", SharedRootfs().root, {}}};
  spec.network = net;
  return spec;
}

void BM_TrueNetworkNone(benchmark::State& state) { RunTrue(state, TrueSpec(NetworkMode::kNone)); }
// The default network: own netns plus a slirp4netns helper started, waited for and reaped per
// run. Run the binary inside `unshare --net` (bench/sandbox/README.md): no traffic is sent.
void BM_TrueNetworkDefault(benchmark::State& state) {
  Spec spec = TrueSpec(NetworkMode::kDefault);
  std::ofstream(SharedRootfs().dir.path() + "/resolv.conf") << "nameserver 198.51.100.1\n";
  spec.resolv_conf = SharedRootfs().dir.path() + "/resolv.conf";
  RunTrue(state, spec);
}

double Percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[std::min(v.size() - 1, static_cast<size_t>(p * v.size()))];
}

// The helper alone: clone-to-ready latency (spawn, setns, TAP, sandbox, seccomp, ready fd) for
// a fresh netns, and its VmRSS once ready, over 50 starts; p50 and p95 as counters.
void BM_HelperCloneToReady(benchmark::State& state) {
  const NetworkHelper& helper = SharedSandbox().network_helper();
  if (!helper.usable()) {
    state.SkipWithError(helper.problem().c_str());
    return;
  }
  std::vector<double> ms, rss_kib;
  for (auto _ : state) {
    pid_t holder = ::fork();  // a process in its own netns for the helper to attach to
    if (holder == 0) {
      if (::unshare(CLONE_NEWNET) != 0) ::_exit(1);
      ::pause();
      ::_exit(0);
    }
    ::usleep(2000);  // let it unshare (not timed)
    base::UniqueFd netns(
        ::open(("/proc/" + std::to_string(holder) + "/ns/net").c_str(), O_RDONLY | O_CLOEXEC));
    absl::Time t0 = absl::Now();
    absl::StatusOr<std::unique_ptr<HelperProcess>> h = helper.Start(netns.get());
    ms.push_back(absl::ToDoubleMilliseconds(absl::Now() - t0));
    if (h.ok()) {
      std::ifstream status("/proc/" + std::to_string((*h)->pid()) + "/status");
      for (std::string line; std::getline(status, line);) {
        if (line.rfind("VmRSS:", 0) == 0) rss_kib.push_back(std::atof(line.c_str() + 6));
      }
    }
    h = absl::UnknownError("stopped");  // stop and reap the helper
    ::kill(holder, SIGKILL);
    ::waitpid(holder, nullptr, 0);
  }
  state.counters["ready_p50_ms"] = Percentile(ms, 0.50);
  state.counters["ready_p95_ms"] = Percentile(ms, 0.95);
  state.counters["rss_p50_kib"] = Percentile(rss_kib, 0.50);
  state.counters["rss_p95_kib"] = Percentile(rss_kib, 0.95);
}
void BM_TrueNetworkHost(benchmark::State& state) { RunTrue(state, TrueSpec(NetworkMode::kHost)); }

void BM_TrueOverlayRootfs(benchmark::State& state) {
  Spec spec = TrueSpec(NetworkMode::kNone);
  auto tmp = base::TempDir::Create("kiln-sb-bench-ovl-");
  if (!tmp.ok()) {
    state.SkipWithError("temp dir");
    return;
  }
  std::string upper = tmp->path() + "/upper", work = tmp->path() + "/work";
  ::mkdir(upper.c_str(), 0755);
  ::mkdir(work.c_str(), 0755);
  spec.rootfs = {
      base::Mount{"overlay",
                  "overlay",
                  {"lowerdir+=" + SharedRootfs().root, "upperdir=" + upper, "workdir=" + work}}};
  RunTrue(state, spec);
}

BENCHMARK(BM_TrueNetworkNone)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_TrueNetworkHost)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_TrueNetworkDefault)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_HelperCloneToReady)->Iterations(50)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_TrueOverlayRootfs)->UseRealTime()->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace kiln::sandbox

BENCHMARK_MAIN();
