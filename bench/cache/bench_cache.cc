// Cache benchmarks: checksum-cache passes over a 10,000-file context (100 dirs x 100 files x
// 20 KiB, like shared/examples/big-context), and cache index lookups.
// Figures and method: bench/cache/README.md.
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <thread>

#include "base/temp_dir.h"
#include "base/unique_fd.h"
#include "cache/checksum_cache.h"
#include "cache/lmdb_cache_index.h"

namespace kiln::cache {
namespace {

constexpr int kDirs = 100;
constexpr int kFilesPerDir = 100;
constexpr size_t kFileSize = 20 * 1024;

struct Context {
  base::TempDir dir;
  std::string root;
  base::UniqueFd fd;
};

// Builds the context once per process; files are then older than the racy window. The static
// is destroyed at exit, which removes the temp dir.
Context& BigContext() {
  static Context ctx = [] {
    Context built;
    Context* c = &built;
    auto d = base::TempDir::Create("kiln-bench-ctx-");
    if (!d.ok()) std::abort();
    c->dir = std::move(*d);
    c->root = c->dir.path() + "/ctx";
    std::mt19937_64 rng(42);
    std::string buf(kFileSize, '\0');
    for (int i = 0; i < kDirs; ++i) {
      std::string sub = c->root + "/src/d" + std::to_string(i);
      std::filesystem::create_directories(sub);
      for (int j = 0; j < kFilesPerDir; ++j) {
        for (size_t k = 0; k < kFileSize; k += 8) {
          uint64_t v = rng();
          std::memcpy(&buf[k], &v, 8);
        }
        std::ofstream(sub + "/f" + std::to_string(j), std::ios::binary)
            .write(buf.data(), buf.size());
      }
    }
    c->fd.reset(::open(c->root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    std::this_thread::sleep_for(std::chrono::milliseconds(1200));  // past the racy window
    return built;
  }();
  return ctx;
}

std::unique_ptr<ChecksumCache> OpenCache(const std::string& state) {
  auto c = ChecksumCache::Open(state);
  if (!c.ok()) std::abort();
  return std::move(*c);
}

// Process CPU time (all threads, user+sys) in ms: load-independent cost of a pass.
double CpuMs() {
  struct rusage ru;
  ::getrusage(RUSAGE_SELF, &ru);
  return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
         (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
}

void Report(benchmark::State& state, ChecksumCache& c, double cpu_ms) {
  ChecksumStats s = c.stats();
  double iters = static_cast<double>(state.iterations());
  state.counters["cpu_ms/iter"] = cpu_ms / iters;
  state.counters["stated/iter"] = static_cast<double>(s.files_stated) / iters;
  state.counters["hashed/iter"] = static_cast<double>(s.files_hashed) / iters;
  state.counters["MB_read/iter"] = static_cast<double>(s.bytes_read) / iters / 1e6;
}

void BM_ChecksumCold(benchmark::State& state) {
  Context& ctx = BigContext();
  std::string path = ctx.dir.path() + "/cold.csc";
  ChecksumStats total;
  double cpu0 = CpuMs();
  for (auto _ : state) {
    auto c = OpenCache(path);  // never saved: starts empty every time
    auto r = c->Checksum(ctx.fd.get(), {"src"});
    if (!r.ok() || r->entries.size() != kDirs * kFilesPerDir + kDirs + 1) std::abort();
    total.files_hashed += c->stats().files_hashed;
  }
  state.counters["hashed/iter"] = static_cast<double>(total.files_hashed) / state.iterations();
  state.counters["cpu_ms/iter"] = (CpuMs() - cpu0) / static_cast<double>(state.iterations());
  state.SetBytesProcessed(state.iterations() * int64_t{kDirs} * kFilesPerDir * kFileSize);
}
BENCHMARK(BM_ChecksumCold)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_ChecksumNoop(benchmark::State& state) {
  Context& ctx = BigContext();
  auto c = OpenCache(ctx.dir.path() + "/noop.csc");
  if (!c->Checksum(ctx.fd.get(), {"src"}).ok()) std::abort();
  c->ResetStats();
  double cpu0 = CpuMs();
  for (auto _ : state) {
    auto r = c->Checksum(ctx.fd.get(), {"src"});
    if (!r.ok()) std::abort();
    benchmark::DoNotOptimize(r->combined);
  }
  Report(state, *c, CpuMs() - cpu0);
}
BENCHMARK(BM_ChecksumNoop)->Unit(benchmark::kMillisecond)->UseRealTime();

// A fresh process: load the persisted state, then the no-op pass.
void BM_ChecksumNoopAfterRestart(benchmark::State& state) {
  Context& ctx = BigContext();
  std::string path = ctx.dir.path() + "/restart.csc";
  {
    auto c = OpenCache(path);
    if (!c->Checksum(ctx.fd.get(), {"src"}).ok() || !c->Save().ok()) std::abort();
  }
  int64_t hashed = 0;
  double cpu0 = CpuMs();
  for (auto _ : state) {
    auto c = OpenCache(path);
    auto r = c->Checksum(ctx.fd.get(), {"src"});
    if (!r.ok()) std::abort();
    hashed += c->stats().files_hashed;
  }
  state.counters["hashed/iter"] = static_cast<double>(hashed) / state.iterations();
  state.counters["cpu_ms/iter"] = (CpuMs() - cpu0) / static_cast<double>(state.iterations());
}
BENCHMARK(BM_ChecksumNoopAfterRestart)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_ChecksumOneFileChanged(benchmark::State& state) {
  Context& ctx = BigContext();
  auto c = OpenCache(ctx.dir.path() + "/one.csc");
  if (!c->Checksum(ctx.fd.get(), {"src"}).ok()) std::abort();
  c->ResetStats();
  std::string victim = ctx.root + "/src/d57/f42";
  std::string content(kFileSize, 'x');
  uint64_t n = 0;
  double cpu0 = CpuMs();
  for (auto _ : state) {
    state.PauseTiming();
    std::string tag = std::to_string(++n);
    content.replace(0, tag.size(), tag);
    std::ofstream(victim, std::ios::binary | std::ios::trunc).write(content.data(), content.size());
    state.ResumeTiming();
    auto r = c->Checksum(ctx.fd.get(), {"src"});
    if (!r.ok()) std::abort();
  }
  Report(state, *c, CpuMs() - cpu0);
}
BENCHMARK(BM_ChecksumOneFileChanged)->Unit(benchmark::kMillisecond)->UseRealTime();

// Loads `records` records without fsync (setup only), returning their keys.
std::vector<CacheKey> LoadIndex(const std::string& dir, int records) {
  LmdbCacheIndexOptions bulk;
  bulk.durable = false;
  auto idx = OpenLmdbCacheIndex(dir, bulk);
  if (!idx.ok()) std::abort();
  std::vector<CacheKey> keys;
  for (int i = 0; i < records; ++i) {
    keys.push_back(base::Digest::Of("key " + std::to_string(i)));
    CacheRecord r;
    r.snapshot = "snapshot-" + std::to_string(i);
    r.size = 1 << 20;
    if (!(*idx)->Put(keys.back(), r).ok()) std::abort();
  }
  return keys;
}

void BM_CacheIndexLookup(benchmark::State& state) {
  auto dir = base::TempDir::Create("kiln-bench-idx-");
  if (!dir.ok()) std::abort();
  std::vector<CacheKey> keys = LoadIndex(dir->path() + "/index", static_cast<int>(state.range(0)));
  auto idx = OpenLmdbCacheIndex(dir->path() + "/index");  // normal durable open
  if (!idx.ok()) std::abort();
  size_t i = 0;
  for (auto _ : state) {
    auto r = (*idx)->Lookup(keys[(i++ * 7919) % keys.size()]);
    if (!r.ok() || !r->has_value()) std::abort();
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK(BM_CacheIndexLookup)->Arg(1000)->Arg(100000)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace kiln::cache

BENCHMARK_MAIN();
