// bench_layers: layer diff+compress and apply throughput on a generated tree.
//
// The tree is KILN_BENCH_TREE_MB (default 500) MB of real files copied from /usr/lib and
// /usr/share into a temp dir (under KILN_BENCH_DIR or $TMPDIR), made once per process.
// Baselines run on the uncompressed tar of that same tree, held in memory:
//   - raw zstd level 3 (streaming, 1 MiB chunks) with 1 and 2 workers;
//   - zlib deflate level 6 (single gzip stream) on the first 64 MiB.
// Throughput is uncompressed bytes per second of wall time. See README.md for figures.
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <string>
#include <system_error>

#include "base/temp_dir.h"
#include "benchmark/benchmark.h"
#include "snapshotter/diff/applier.h"
#include "snapshotter/diff/differ.h"
#include "snapshotter/diff/layer_encoder.h"

namespace kiln::snapshotter {
namespace {

namespace fs = std::filesystem;

// Process CPU seconds (all threads): on this shared 2-vCPU machine wall time swings with the
// team's load, CPU cost per byte much less.
double ProcessCpuSeconds() {
  struct timespec ts {};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

// Sets "MB/cpu_s": uncompressed MB processed per process-CPU second.
void SetCpuRate(benchmark::State& state, double cpu_start, size_t bytes_per_iter) {
  double cpu = ProcessCpuSeconds() - cpu_start;
  double mb = static_cast<double>(bytes_per_iter) * static_cast<double>(state.iterations()) / 1e6;
  state.counters["MB/cpu_s"] = cpu > 0 ? mb / cpu : 0;
}

class NullSink : public ByteSink {
 public:
  absl::Status Write(const void*, size_t) override { return absl::OkStatus(); }
};

class StringSink : public ByteSink {
 public:
  absl::Status Write(const void* d, size_t n) override {
    data.append(static_cast<const char*>(d), n);
    return absl::OkStatus();
  }
  std::string data;
};

struct Fixture {
  base::TempDir tmp;
  std::string tree;
  std::string tar;  // uncompressed layer of the tree
  std::string zstd_blob, gzip_blob;
  int64_t tree_bytes = 0;
  int files = 0;
};

void Die(const std::string& what) {
  std::fprintf(stderr, "bench_layers: %s\n", what.c_str());
  std::exit(1);
}

void CopyFiles(const std::string& from, const std::string& to, int64_t limit, Fixture* f) {
  std::error_code ec;
  int dir_index = 0, in_dir = 1000;
  std::string dir;
  for (auto it = fs::recursive_directory_iterator(
           from, fs::directory_options::skip_permission_denied, ec);
       !ec && it != fs::recursive_directory_iterator() && f->tree_bytes < limit; it.increment(ec)) {
    if (!it->is_regular_file(ec) || it->is_symlink(ec)) continue;
    if (in_dir >= 200) {
      dir = to + "/d" + std::to_string(dir_index++);
      fs::create_directories(dir, ec);
      in_dir = 0;
    }
    std::string dst = dir + "/" + std::to_string(in_dir++) + "-" + it->path().filename().string();
    if (!fs::copy_file(it->path(), dst, fs::copy_options::overwrite_existing, ec)) {
      ec.clear();
      continue;
    }
    f->tree_bytes += static_cast<int64_t>(fs::file_size(dst, ec));
    ++f->files;
  }
}

Fixture& Get() {
  static Fixture* f = [] {
    auto* fx = new Fixture;
    const char* mb_env = std::getenv("KILN_BENCH_TREE_MB");
    int64_t mb = mb_env != nullptr ? std::atoll(mb_env) : 500;
    const char* dir_env = std::getenv("KILN_BENCH_DIR");
    auto t = base::TempDir::Create("kiln-bench-layers-", dir_env != nullptr ? dir_env : "");
    if (!t.ok()) Die(std::string(t.status().message()));
    fx->tmp = std::move(*t);
    fx->tree = fx->tmp.path() + "/tree";
    ::mkdir(fx->tree.c_str(), 0755);
    int64_t limit = mb << 20;
    CopyFiles("/usr/lib/x86_64-linux-gnu", fx->tree + "/lib", limit * 7 / 10, fx);
    CopyFiles("/usr/share", fx->tree + "/share", limit, fx);
    CopyFiles("/usr/lib", fx->tree + "/more", limit, fx);
    StringSink s;
    DiffOptions o;
    o.encoder.compression = Compression::kNone;
    auto d = DiffTrees("", fx->tree, o, &s);
    if (!d.ok()) Die(std::string(d.status().message()));
    fx->tar = std::move(s.data);
    for (Compression c : {Compression::kZstd, Compression::kGzip}) {
      StringSink b;
      o.encoder.compression = c;
      if (!DiffTrees("", fx->tree, o, &b).ok()) Die("compress tree");
      (c == Compression::kZstd ? fx->zstd_blob : fx->gzip_blob) = std::move(b.data);
    }
    std::fprintf(stderr, "tree: %d files, %.1f MB; tar %.1f MB; zstd %.1f MB; gzip %.1f MB\n",
                 fx->files, fx->tree_bytes / 1e6, fx->tar.size() / 1e6, fx->zstd_blob.size() / 1e6,
                 fx->gzip_blob.size() / 1e6);
    return fx;
  }();
  return *f;
}

void BM_Diff(benchmark::State& state, Compression c, int threads, int level) {
  Fixture& f = Get();
  DiffOptions o;
  o.encoder.compression = c;
  o.encoder.threads = threads;
  o.encoder.level = level;
  int64_t out = 0;
  double cpu0 = ProcessCpuSeconds();
  for (auto _ : state) {
    NullSink sink;
    auto d = DiffTrees("", f.tree, o, &sink);
    if (!d.ok()) state.SkipWithError(std::string(d.status().message()).c_str());
    if (d.ok()) out = d->size;
  }
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(f.tar.size()));
  SetCpuRate(state, cpu0, f.tar.size());
  state.counters["ratio"] = static_cast<double>(f.tar.size()) / static_cast<double>(out);
}

void BM_RawZstd3(benchmark::State& state) {
  Fixture& f = Get();
  int workers = static_cast<int>(state.range(0));
  std::string out(ZSTD_CStreamOutSize(), '\0');
  double cpu0 = ProcessCpuSeconds();
  for (auto _ : state) {
    ZSTD_CCtx* c = ZSTD_createCCtx();
    ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel, 3);
    if (workers > 1) ZSTD_CCtx_setParameter(c, ZSTD_c_nbWorkers, workers);
    size_t total = 0;
    for (size_t pos = 0; pos < f.tar.size();) {
      size_t n = std::min<size_t>(1 << 20, f.tar.size() - pos);
      bool last = pos + n == f.tar.size();
      ZSTD_inBuffer in{f.tar.data() + pos, n, 0};
      size_t rc;
      do {
        ZSTD_outBuffer ob{out.data(), out.size(), 0};
        rc = ZSTD_compressStream2(c, &ob, &in, last ? ZSTD_e_end : ZSTD_e_continue);
        total += ob.pos;
      } while (last ? rc != 0 : in.pos < in.size);
      pos += n;
    }
    ZSTD_freeCCtx(c);
    benchmark::DoNotOptimize(total);
  }
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(f.tar.size()));
  SetCpuRate(state, cpu0, f.tar.size());
}

// Like `zstd -3 -T<N> layer.tar`: the same tar read from a file (page cache) in 1 MiB chunks.
void BM_RawZstd3FromFile(benchmark::State& state) {
  Fixture& f = Get();
  std::string path = f.tmp.path() + "/layer.tar";
  {
    FILE* fp = std::fopen(path.c_str(), "w");
    if (fp == nullptr) Die("create " + path);
    std::fwrite(f.tar.data(), 1, f.tar.size(), fp);
    std::fclose(fp);
  }
  int workers = static_cast<int>(state.range(0));
  std::string in(1 << 20, '\0'), out(ZSTD_CStreamOutSize(), '\0');
  double cpu0 = ProcessCpuSeconds();
  for (auto _ : state) {
    FILE* fp = std::fopen(path.c_str(), "r");
    ZSTD_CCtx* c = ZSTD_createCCtx();
    ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel, 3);
    if (workers > 1) ZSTD_CCtx_setParameter(c, ZSTD_c_nbWorkers, workers);
    size_t total = 0, n = 0;
    do {
      n = std::fread(in.data(), 1, in.size(), fp);
      ZSTD_inBuffer ib{in.data(), n, 0};
      size_t rc;
      do {
        ZSTD_outBuffer ob{out.data(), out.size(), 0};
        rc = ZSTD_compressStream2(c, &ob, &ib, n == 0 ? ZSTD_e_end : ZSTD_e_continue);
        total += ob.pos;
      } while (n == 0 ? rc != 0 : ib.pos < ib.size);
    } while (n > 0);
    ZSTD_freeCCtx(c);
    std::fclose(fp);
    benchmark::DoNotOptimize(total);
  }
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(f.tar.size()));
  SetCpuRate(state, cpu0, f.tar.size());
  std::remove(path.c_str());
}

void BM_ZlibLevel6(benchmark::State& state) {
  Fixture& f = Get();
  size_t n = std::min<size_t>(f.tar.size(), 64 << 20);
  std::string out(compressBound(static_cast<uLong>(n)) + 64, '\0');
  uLong out_size = 1;
  double cpu0 = ProcessCpuSeconds();
  for (auto _ : state) {
    z_stream zs{};
    deflateInit2(&zs, 6, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY);
    zs.next_in = reinterpret_cast<Bytef*>(f.tar.data());
    zs.avail_in = static_cast<uInt>(n);
    zs.next_out = reinterpret_cast<Bytef*>(out.data());
    zs.avail_out = static_cast<uInt>(out.size());
    deflate(&zs, Z_FINISH);
    deflateEnd(&zs);
    out_size = zs.total_out;
    benchmark::DoNotOptimize(out_size);
  }
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(n));
  SetCpuRate(state, cpu0, n);
  state.counters["ratio"] = static_cast<double>(n) / static_cast<double>(out_size);
}

// Kiln's gzip encoder alone (parallel libdeflate members) on the same 64 MiB as BM_ZlibLevel6.
void BM_GzipEncoderOnly(benchmark::State& state) {
  Fixture& f = Get();
  size_t n = std::min<size_t>(f.tar.size(), 64 << 20);
  EncoderOptions o;
  o.compression = Compression::kGzip;
  o.threads = static_cast<int>(state.range(0));
  o.level = static_cast<int>(state.range(1));
  int64_t out_size = 1;
  double cpu0 = ProcessCpuSeconds();
  for (auto _ : state) {
    NullSink sink;
    auto enc = LayerEncoder::Create(o, &sink);
    if (!enc.ok()) state.SkipWithError("encoder");
    if (!enc.ok()) break;
    for (size_t pos = 0; pos < n; pos += 1 << 20) {
      (void)(*enc)->Write(f.tar.data() + pos, std::min<size_t>(1 << 20, n - pos));
    }
    auto d = (*enc)->Finish();
    if (d.ok()) out_size = d->size;
  }
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(n));
  SetCpuRate(state, cpu0, n);
  state.counters["ratio"] = static_cast<double>(n) / static_cast<double>(out_size);
}

void BM_Apply(benchmark::State& state, int which) {
  Fixture& f = Get();
  const std::string& blob = which == 0 ? f.tar : which == 1 ? f.zstd_blob : f.gzip_blob;
  int round = 0;
  double cpu_paused = 0;
  double cpu0 = ProcessCpuSeconds();
  for (auto _ : state) {
    std::string dst = f.tmp.path() + "/apply" + std::to_string(round++);
    ::mkdir(dst.c_str(), 0755);
    StringSource src(blob);
    auto r = ApplyLayer(&src, dst);
    if (!r.ok()) state.SkipWithError(std::string(r.status().message()).c_str());
    state.PauseTiming();
    double c = ProcessCpuSeconds();
    (void)base::RemoveTree(dst);
    cpu_paused += ProcessCpuSeconds() - c;
    state.ResumeTiming();
  }
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(f.tar.size()));
  SetCpuRate(state, cpu0 + cpu_paused, f.tar.size());
}

// Metadata-heavy layers: 20,000 files of 1 KiB in 100 directories (like node_modules).
struct SmallTree {
  base::TempDir tmp;
  std::string tree;
  std::string blob;  // zstd layer
  int files = 0;
};

SmallTree& GetSmall() {
  static SmallTree* s = [] {
    auto* st = new SmallTree;
    auto t = base::TempDir::Create("kiln-bench-small-");
    if (!t.ok()) Die(std::string(t.status().message()));
    st->tmp = std::move(*t);
    st->tree = st->tmp.path() + "/tree";
    ::mkdir(st->tree.c_str(), 0755);
    std::string content(1024, 'x');
    for (int d = 0; d < 100; ++d) {
      std::string dir = st->tree + "/pkg" + std::to_string(d);
      ::mkdir(dir.c_str(), 0755);
      for (int i = 0; i < 200; ++i) {
        content[static_cast<size_t>(i)] = static_cast<char>('a' + d % 26);
        FILE* fp = std::fopen((dir + "/f" + std::to_string(i) + ".js").c_str(), "w");
        if (fp == nullptr) Die("create small file");
        std::fwrite(content.data(), 1, content.size(), fp);
        std::fclose(fp);
        ++st->files;
      }
    }
    StringSink b;
    DiffOptions o;
    o.encoder.compression = Compression::kZstd;
    if (!DiffTrees("", st->tree, o, &b).ok()) Die("small tree diff");
    st->blob = std::move(b.data);
    return st;
  }();
  return *s;
}

void BM_SmallFilesDiff(benchmark::State& state) {
  SmallTree& s = GetSmall();
  DiffOptions o;
  o.encoder.compression = Compression::kZstd;
  for (auto _ : state) {
    NullSink sink;
    if (!DiffTrees("", s.tree, o, &sink).ok()) state.SkipWithError("diff");
  }
  state.counters["files/s"] =
      benchmark::Counter(static_cast<double>(s.files) * static_cast<double>(state.iterations()),
                         benchmark::Counter::kIsRate);
}

void BM_SmallFilesApply(benchmark::State& state) {
  SmallTree& s = GetSmall();
  int round = 0;
  for (auto _ : state) {
    std::string dst = s.tmp.path() + "/apply" + std::to_string(round++);
    ::mkdir(dst.c_str(), 0755);
    StringSource src(s.blob);
    if (!ApplyLayer(&src, dst).ok()) state.SkipWithError("apply");
  }
  // Removed only afterwards: ext4 scans past recently deleted inodes when creating new ones,
  // which would make each iteration measure the previous one's deletion.
  for (int i = 0; i < round; ++i)
    (void)base::RemoveTree(s.tmp.path() + "/apply" + std::to_string(i));
  state.counters["files/s"] =
      benchmark::Counter(static_cast<double>(s.files) * static_cast<double>(state.iterations()),
                         benchmark::Counter::kIsRate);
}

#define KILN_BENCH_OPTS(n) ->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(n)
BENCHMARK_CAPTURE(BM_Diff, none, Compression::kNone, 0, 0) KILN_BENCH_OPTS(2);
BENCHMARK_CAPTURE(BM_Diff, zstd3_2threads, Compression::kZstd, 2, 3) KILN_BENCH_OPTS(2);
BENCHMARK_CAPTURE(BM_Diff, zstd3_1thread, Compression::kZstd, 1, 3) KILN_BENCH_OPTS(2);
BENCHMARK(BM_RawZstd3)->Arg(1)->Arg(2) KILN_BENCH_OPTS(2);
BENCHMARK(BM_RawZstd3FromFile)->Arg(2) KILN_BENCH_OPTS(2);
BENCHMARK_CAPTURE(BM_Diff, gzip5_2threads, Compression::kGzip, 2, 5) KILN_BENCH_OPTS(2);
BENCHMARK_CAPTURE(BM_Diff, gzip5_1thread, Compression::kGzip, 1, 5) KILN_BENCH_OPTS(1);
BENCHMARK_CAPTURE(BM_Diff, gzip6_2threads, Compression::kGzip, 2, 6) KILN_BENCH_OPTS(1);
BENCHMARK(BM_ZlibLevel6) KILN_BENCH_OPTS(1);
BENCHMARK(BM_GzipEncoderOnly)->Args({1, 5})->Args({2, 5})->Args({2, 6}) KILN_BENCH_OPTS(1);
BENCHMARK_CAPTURE(BM_Apply, tar, 0) KILN_BENCH_OPTS(2);
BENCHMARK_CAPTURE(BM_Apply, zstd, 1) KILN_BENCH_OPTS(2);
BENCHMARK_CAPTURE(BM_Apply, gzip, 2) KILN_BENCH_OPTS(2);
BENCHMARK(BM_SmallFilesDiff) KILN_BENCH_OPTS(3);
BENCHMARK(BM_SmallFilesApply) KILN_BENCH_OPTS(3);

}  // namespace
}  // namespace kiln::snapshotter

BENCHMARK_MAIN();
