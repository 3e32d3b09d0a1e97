// Snapshotter latency: Prepare+Mounts+Commit on trees of different sizes, and mounting a
// 1,000-deep chain. Run as root, or as a user (it then enters a rootless namespace first).
// See README.md for the figures and the method.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "base/mount.h"
#include "base/status.h"
#include "base/temp_dir.h"
#include "base/userns.h"
#include "benchmark/benchmark.h"
#include "snapshotter/native_snapshotter.h"
#include "snapshotter/overlay_snapshotter.h"

namespace kiln::snapshotter {
namespace {

std::string* g_tmp = nullptr;

bool Check(const absl::Status& s, benchmark::State& state) {
  if (!s.ok()) state.SkipWithError(std::string(s.message()).c_str());
  return s.ok();
}

void WriteSmallFile(const std::string& path) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd >= 0) {
    (void)!::write(fd, "data\n", 5);
    ::close(fd);
  }
}

// Creates committed "base" holding `files` small files in dirs of 100, written through a mount.
absl::Status MakeBase(Snapshotter& sn, int files, const std::string& mnt) {
  auto mounts = sn.Prepare("base-a", "");
  if (!mounts.ok()) return mounts.status();
  KILN_RETURN_IF_ERROR(base::MountAt((*mounts)[0], mnt));
  {
    base::ScopedMount m(mnt);
    for (int i = 0; i < files; ++i) {
      std::string dir = absl::StrCat(mnt, "/d", i / 100);
      if (i % 100 == 0) ::mkdir(dir.c_str(), 0755);
      WriteSmallFile(absl::StrCat(dir, "/f", i));
    }
  }
  return sn.Commit("base", "base-a");
}

template <typename S>
absl::StatusOr<std::unique_ptr<Snapshotter>> OpenAt(const std::string& root, bool sync,
                                                    int max_lower = 128) {
  LocalSnapshotterOptions o;
  o.metadata_sync = sync ? MetadataSync::kEveryTransaction : MetadataSync::kOnClose;
  o.max_lower_dirs = max_lower;
  auto s = S::Open(root, o);
  if (!s.ok()) return s.status();
  return std::unique_ptr<Snapshotter>(std::move(*s));
}

// Args: files in the parent, metadata sync mode (0 = kOnClose, the default: no fsync per
// operation; 1 = kEveryTransaction).
template <typename S>
void BM_PrepareMountsCommit(benchmark::State& state) {
  auto tmp = base::TempDir::Create("bench-", *g_tmp);
  if (!Check(tmp.status(), state)) return;
  std::string mnt = tmp->path() + "/mnt";
  ::mkdir(mnt.c_str(), 0755);
  auto sn = OpenAt<S>(tmp->path() + "/root", state.range(1) != 0);
  if (!Check(sn.status(), state)) return;
  if (!Check(MakeBase(**sn, static_cast<int>(state.range(0)), mnt), state)) return;
  int64_t i = 0;
  for (auto _ : state) {
    std::string key = absl::StrCat("k", i), name = absl::StrCat("n", i++);
    auto prepared = (*sn)->Prepare(key, "base");
    auto mounts = (*sn)->Mounts(key);
    absl::Status s = (*sn)->Commit(name, key);
    if (!prepared.ok() || !mounts.ok() || !s.ok()) {
      state.SkipWithError("prepare/mounts/commit failed");
      break;
    }
  }
  state.counters["files"] = static_cast<double>(state.range(0));
}
BENCHMARK(BM_PrepareMountsCommit<OverlaySnapshotter>)
    ->ArgsProduct({{0, 1000, 10000}, {0, 1}})
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_PrepareMountsCommit<NativeSnapshotter>)
    ->ArgsProduct({{0, 100, 1000}, {0}})
    ->Unit(benchmark::kMicrosecond);

// Where kOnClose's flushing went: a whole session on an existing root with one committed
// layer: Open + Prepare + Mounts + Commit + close (syncfs, LMDB sync, marker; the marker is
// also written, with fsync, at open). Arg: sync mode as above.
void BM_OpenPrepareCommitClose(benchmark::State& state) {
  auto tmp = base::TempDir::Create("bench-", *g_tmp);
  if (!Check(tmp.status(), state)) return;
  std::string mnt = tmp->path() + "/mnt";
  ::mkdir(mnt.c_str(), 0755);
  std::string root = tmp->path() + "/root";
  bool sync = state.range(0) != 0;
  {
    auto sn = OpenAt<OverlaySnapshotter>(root, sync);
    if (!Check(sn.status(), state)) return;
    if (!Check(MakeBase(**sn, 100, mnt), state)) return;
  }
  int64_t i = 0;
  for (auto _ : state) {
    auto sn = OpenAt<OverlaySnapshotter>(root, sync);
    if (!Check(sn.status(), state)) return;
    std::string key = absl::StrCat("k", i), name = absl::StrCat("n", i++);
    auto prepared = (*sn)->Prepare(key, "base");
    auto mounts = (*sn)->Mounts(key);
    if (!prepared.ok() || !mounts.ok() || !(*sn)->Commit(name, key).ok()) {
      state.SkipWithError("prepare/mounts/commit failed");
      break;
    }
    sn->reset();  // closes
  }
}
BENCHMARK(BM_OpenPrepareCommitClose)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);

// A 1,000-deep chain (each layer adds one file and deletes an older one), then: View of the
// top + mount + read a file from the bottom layer + unmount + Remove.
void BM_MountThousandDeepChain(benchmark::State& state) {
  auto tmp = base::TempDir::Create("bench-", *g_tmp);
  if (!Check(tmp.status(), state)) return;
  std::string mnt = tmp->path() + "/mnt";
  ::mkdir(mnt.c_str(), 0755);
  auto sn =
      OpenAt<OverlaySnapshotter>(tmp->path() + "/root", false, static_cast<int>(state.range(0)));
  if (!Check(sn.status(), state)) return;
  std::string parent;
  absl::Time start = absl::Now();
  for (int i = 0; i < 1000; ++i) {
    std::string key = absl::StrCat("a", i), name = absl::StrCat("c", i);
    auto mounts = (*sn)->Prepare(key, parent);
    if (!Check(mounts.status(), state)) return;
    if (!Check(base::MountAt((*mounts)[0], mnt), state)) return;
    {
      base::ScopedMount m(mnt);
      WriteSmallFile(absl::StrCat(mnt, "/f", i));
      if (i >= 2) ::unlink(absl::StrCat(mnt, "/f", i - 1).c_str());
    }
    if (!Check((*sn)->Commit(name, key), state)) return;
    parent = name;
  }
  state.counters["build_1000_s"] = absl::ToDoubleSeconds(absl::Now() - start);
  for (auto _ : state) {
    auto mounts = (*sn)->View("v", "c999");
    if (!Check(mounts.status(), state)) return;
    if (!Check(base::MountAt((*mounts)[0], mnt), state)) return;
    struct stat st;
    bool ok;
    {
      base::ScopedMount m(mnt);
      ok = ::stat((mnt + "/f0").c_str(), &st) == 0 && ::stat((mnt + "/f999").c_str(), &st) == 0;
    }
    if (!ok) {
      state.SkipWithError("chain content wrong");
      return;
    }
    if (!Check((*sn)->Remove("v"), state)) return;
  }
}
BENCHMARK(BM_MountThousandDeepChain)->Arg(128)->Arg(499)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace kiln::snapshotter

int main(int argc, char** argv) {
  if (::geteuid() != 0) {
    auto info = kiln::base::EnterRootlessNamespace();
    if (!info.ok()) {
      std::fprintf(stderr, "cannot enter a rootless namespace: %s\n",
                   std::string(info.status().message()).c_str());
      return 1;
    }
  }
  auto tmp = kiln::base::TempDir::Create("kiln-bench-snapshotter-");
  if (!tmp.ok()) return 1;
  kiln::snapshotter::g_tmp = new std::string(tmp->path());
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  delete kiln::snapshotter::g_tmp;
  return 0;
}
