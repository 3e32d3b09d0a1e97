// bench_layers: layer diff+compress and apply throughput on a generated tree.
//
// The tree is KILN_BENCH_TREE_MB (default 500) MB of real files copied from /usr/lib and
// /usr/share into a temp dir (under KILN_BENCH_DIR or $TMPDIR), made once per process.
//
// The two targets are checked by paired benchmarks: every iteration runs Kiln's diff AND the
// reference on the same bytes back to back (alternating which goes first), so both see the
// same machine load, and the ratio is a counter:
//   - BM_DiffZstdVsRaw/<threads>: diff+zstd 3 of the tree vs raw zstd level 3 (same number of
//     workers) over the tree's uncompressed tar held in memory. Counters ratio_vs_raw_zstd
//     (wall), ratio_vs_raw_zstd_cpu (per CPU second) and ratio_vs_raw_zstd_cpu_best (the
//     lowest CPU time of each leg over the iterations). Target >= 0.8. Second reference in
//     the same iteration: Debian's `zstd -3 -T<threads>` CLI compressing that tar from a file
//     in the page cache (ratio_vs_zstd_cli, ratio_vs_zstd_cli_cpu).
//   - BM_DiffNone: diff+none (uncompressed layer) vs one SHA-256 pass over the in-memory tar
//     (ratio_vs_sha256), its ceiling: the blob digest is the diffID, hashed once.
//   - BM_DiffGzipVsZlib6/<threads>: diff+gzip (default level) of the tree vs zlib deflate
//     level 6 (one gzip stream) over a 1/8 sample of that tar (1 MiB out of every 8 MiB).
//     Counters ratio_vs_zlib6 (wall) and ratio_vs_zlib6_cpu. Target >= 3.
// Every benchmark reports MB/s (uncompressed MB per wall second), MB/cpu_s (per second of
// process CPU time, all threads) and cpu_util (CPU seconds per wall second). See README.md.
#include <fcntl.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <functional>
#include <string>
#include <system_error>

#include "base/digest.h"
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

double WallSeconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Wall and CPU time of one call.
struct Timing {
  double wall = 0;
  double cpu = 0;
  Timing& operator+=(const Timing& o) {
    wall += o.wall;
    cpu += o.cpu;
    return *this;
  }
};

Timing Time(const std::function<void()>& fn) {
  double w0 = WallSeconds(), c0 = ProcessCpuSeconds();
  fn();
  return Timing{WallSeconds() - w0, ProcessCpuSeconds() - c0};
}

// Sets MB/s, MB/cpu_s and cpu_util for `t` spent on `bytes` (all iterations together).
void SetRates(benchmark::State& state, const Timing& t, double bytes, const std::string& prefix) {
  double mb = bytes / 1e6;
  state.counters[prefix + "MB/s"] = t.wall > 0 ? mb / t.wall : 0;
  state.counters[prefix + "MB/cpu_s"] = t.cpu > 0 ? mb / t.cpu : 0;
  state.counters[prefix + "cpu_util"] = t.wall > 0 ? t.cpu / t.wall : 0;
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

void Die(const std::string& what) {
  std::fprintf(stderr, "bench_layers: %s\n", what.c_str());
  std::exit(1);
}

struct Fixture {
  base::TempDir tmp;
  std::string tree;
  int64_t tree_bytes = 0;
  int files = 0;

  // Made on first use, so a filtered run only pays for what it needs.
  const std::string& Tar() { return Blob(Compression::kNone, &tar_); }
  // The same tar as a file (in the page cache after writing), for the zstd CLI.
  const std::string& TarFile() {
    if (tar_file_.empty()) {
      std::string path = tmp.path() + "/layer.tar";
      const std::string& t = Tar();
      FILE* fp = std::fopen(path.c_str(), "w");
      if (fp == nullptr || std::fwrite(t.data(), 1, t.size(), fp) != t.size()) {
        Die("write " + path);
      }
      std::fclose(fp);
      tar_file_ = path;
    }
    return tar_file_;
  }
  const std::string& ZstdBlob() { return Blob(Compression::kZstd, &zstd_); }
  const std::string& GzipBlob() { return Blob(Compression::kGzip, &gzip_); }
  // 1 MiB out of every 8 MiB of the tar: what the zlib reference compresses.
  const std::string& TarSample() {
    if (sample_.empty()) {
      const std::string& t = Tar();
      for (size_t pos = 0; pos < t.size(); pos += 8 << 20) {
        sample_.append(t, pos, std::min<size_t>(1 << 20, t.size() - pos));
      }
    }
    return sample_;
  }

 private:
  const std::string& Blob(Compression c, std::string* out) {
    if (out->empty()) {
      StringSink s;
      DiffOptions o;
      o.encoder.compression = c;
      auto d = DiffTrees("", tree, o, &s);
      if (!d.ok()) Die(std::string(d.status().message()));
      *out = std::move(s.data);
      std::fprintf(stderr, "layer (%s): %.1f MB\n", std::string(MediaTypeFor(c)).c_str(),
                   static_cast<double>(out->size()) / 1e6);
    }
    return *out;
  }
  std::string tar_, zstd_, gzip_, sample_, tar_file_;
};

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

// A function-local static (not a leaked pointer) so that the temp tree is removed at exit.
Fixture& Get() {
  static Fixture fx = [] {
    Fixture f;
    const char* mb_env = std::getenv("KILN_BENCH_TREE_MB");
    int64_t mb = mb_env != nullptr ? std::atoll(mb_env) : 500;
    const char* dir_env = std::getenv("KILN_BENCH_DIR");
    auto t = base::TempDir::Create("kiln-bench-layers-", dir_env != nullptr ? dir_env : "");
    if (!t.ok()) Die(std::string(t.status().message()));
    f.tmp = std::move(*t);
    f.tree = f.tmp.path() + "/tree";
    ::mkdir(f.tree.c_str(), 0755);
    int64_t limit = mb << 20;
    CopyFiles("/usr/lib/x86_64-linux-gnu", f.tree + "/lib", limit * 7 / 10, &f);
    CopyFiles("/usr/share", f.tree + "/share", limit, &f);
    CopyFiles("/usr/lib", f.tree + "/more", limit, &f);
    std::fprintf(stderr, "tree: %d files, %.1f MB\n", f.files,
                 static_cast<double>(f.tree_bytes) / 1e6);
    return f;
  }();
  return fx;
}

// Kiln's diff of the whole tree into a null sink; returns the blob size.
int64_t RunDiff(const Fixture& f, const DiffOptions& o, benchmark::State& state) {
  NullSink sink;
  auto d = DiffTrees("", f.tree, o, &sink);
  if (!d.ok()) {
    state.SkipWithError(std::string(d.status().message()).c_str());
    return 1;
  }
  return d->size;
}

// zstd level 3 over `data` in 1 MiB chunks; workers 0 = single-threaded (no MT). Returns the
// compressed size.
size_t RawZstd3(const std::string& data, int workers) {
  std::string out(ZSTD_CStreamOutSize(), '\0');
  ZSTD_CCtx* c = ZSTD_createCCtx();
  ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel, 3);
  if (workers > 0) ZSTD_CCtx_setParameter(c, ZSTD_c_nbWorkers, workers);
  size_t total = 0;
  for (size_t pos = 0; pos < data.size();) {
    size_t n = std::min<size_t>(1 << 20, data.size() - pos);
    bool last = pos + n == data.size();
    ZSTD_inBuffer in{data.data() + pos, n, 0};
    size_t rc;
    do {
      ZSTD_outBuffer ob{out.data(), out.size(), 0};
      rc = ZSTD_compressStream2(c, &ob, &in, last ? ZSTD_e_end : ZSTD_e_continue);
      total += ob.pos;
    } while (last ? rc != 0 : in.pos < in.size);
    pos += n;
  }
  ZSTD_freeCCtx(c);
  return total;
}

// Debian's zstd CLI: `zstd -3 -T<workers> -q -c FILE > /dev/null`. Returns the child's wall
// and CPU time (user + system, from wait4); dies if it cannot run or fails.
Timing ZstdCli(const std::string& file, int workers) {
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  std::string t = "-T" + std::to_string(workers);
  const char* argv[] = {"zstd", "-3", t.c_str(), "-q", "-c", file.c_str(), nullptr};
  double w0 = WallSeconds();
  pid_t pid = -1;
  int rc = posix_spawnp(&pid, "zstd", &fa, nullptr, const_cast<char* const*>(argv), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) Die("cannot run the zstd CLI (apt-get install zstd): " + std::to_string(rc));
  int status = 0;
  struct rusage ru {};
  if (::wait4(pid, &status, 0, &ru) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    Die("zstd CLI failed on " + file);
  }
  double wall = WallSeconds() - w0;
  auto secs = [](const timeval& tv) {
    return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6;
  };
  return Timing{wall, secs(ru.ru_utime) + secs(ru.ru_stime)};
}

// zlib deflate level 6, one gzip stream (what `gzip -6` and Go's default do). Returns the size.
size_t Zlib6(const std::string& data) {
  std::string out(compressBound(static_cast<uLong>(data.size())) + 64, '\0');
  z_stream zs{};
  deflateInit2(&zs, 6, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY);
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  deflate(&zs, Z_FINISH);
  deflateEnd(&zs);
  return zs.total_out;
}

// diff+none (uncompressed layer, blob digest = diffID) vs its ceiling: one SHA-256 pass over
// the same tar in memory, in the same iteration. Counter ratio_vs_sha256 (wall).
void BM_DiffNone(benchmark::State& state) {
  Fixture& f = Get();
  const std::string& tar = f.Tar();
  double bytes = static_cast<double>(tar.size());
  DiffOptions o;
  o.encoder.compression = Compression::kNone;
  Timing total, sha;
  for (auto _ : state) {
    Timing t = Time([&] {
      NullSink sink;
      auto d = DiffTrees("", f.tree, o, &sink);
      if (!d.ok() || d->digest != d->diff_id) state.SkipWithError("diff none: digest != diffID");
    });
    sha += Time([&] {
      base::Sha256 h;
      h.Update(tar.data(), tar.size());
      benchmark::DoNotOptimize(h.Finish());
    });
    state.SetIterationTime(t.wall);
    total += t;
  }
  double all = bytes * static_cast<double>(state.iterations());
  state.SetBytesProcessed(static_cast<int64_t>(all));
  SetRates(state, total, all, "");
  SetRates(state, sha, all, "sha256_");
  state.counters["ratio_vs_sha256"] = total.wall > 0 ? sha.wall / total.wall : 0;
}

// Arg: compression threads (also the raw reference's workers).
void BM_DiffZstdVsRaw(benchmark::State& state) {
  Fixture& f = Get();
  const std::string& tar = f.Tar();
  double bytes = static_cast<double>(tar.size());
  int threads = static_cast<int>(state.range(0));
  DiffOptions o;
  o.encoder.compression = Compression::kZstd;
  o.encoder.level = 3;
  o.encoder.threads = threads;
  const std::string& tar_file = f.TarFile();
  Timing diff, raw, cli;
  double diff_best_cpu = 0, raw_best_cpu = 0;  // lowest CPU time of one leg
  int64_t out = 1;
  int64_t i = 0;
  for (auto _ : state) {
    Timing d, r, c;
    std::function<void()> legs[3] = {
        [&] { d = Time([&] { out = RunDiff(f, o, state); }); },
        [&] { r = Time([&] { benchmark::DoNotOptimize(RawZstd3(tar, threads)); }); },
        [&] { c = ZstdCli(tar_file, threads); },
    };
    // Rotate the order so that no leg always runs first (or right after another).
    for (int k = 0; k < 3; ++k) legs[(i + k) % 3]();
    ++i;
    state.SetIterationTime(d.wall);
    diff += d;
    raw += r;
    cli += c;
    diff_best_cpu = i == 1 ? d.cpu : std::min(diff_best_cpu, d.cpu);
    raw_best_cpu = i == 1 ? r.cpu : std::min(raw_best_cpu, r.cpu);
  }
  double all = bytes * static_cast<double>(state.iterations());
  state.SetBytesProcessed(static_cast<int64_t>(all));
  SetRates(state, diff, all, "");
  SetRates(state, raw, all, "raw_");
  state.counters["ratio_vs_raw_zstd"] = diff.wall > 0 ? raw.wall / diff.wall : 0;
  state.counters["ratio_vs_raw_zstd_cpu"] = diff.cpu > 0 ? raw.cpu / diff.cpu : 0;
  // Neighbours' load only ever adds CPU time (cache and memory contention, a hypervisor's
  // steal): the best iteration of each leg is the steadier per-CPU comparison on a busy host.
  state.counters["ratio_vs_raw_zstd_cpu_best"] =
      diff_best_cpu > 0 ? raw_best_cpu / diff_best_cpu : 0;
  SetRates(state, cli, all, "cli_");
  state.counters["ratio_vs_zstd_cli"] = diff.wall > 0 ? cli.wall / diff.wall : 0;
  state.counters["ratio_vs_zstd_cli_cpu"] = diff.cpu > 0 ? cli.cpu / diff.cpu : 0;
  state.counters["compression"] = bytes / static_cast<double>(out);
}

// Args: compression threads, gzip level (0 = Kiln's default).
void BM_DiffGzipVsZlib6(benchmark::State& state) {
  Fixture& f = Get();
  double bytes = static_cast<double>(f.Tar().size());
  const std::string& sample = f.TarSample();
  DiffOptions o;
  o.encoder.compression = Compression::kGzip;
  o.encoder.threads = static_cast<int>(state.range(0));
  o.encoder.level = static_cast<int>(state.range(1));
  Timing diff, zlib;
  int64_t out = 1;
  size_t zout = 1;
  int64_t i = 0;
  for (auto _ : state) {
    Timing d, z;
    auto run_diff = [&] { d = Time([&] { out = RunDiff(f, o, state); }); };
    auto run_zlib = [&] { z = Time([&] { zout = Zlib6(sample); }); };
    if (i++ % 2 == 0) {
      run_diff();
      run_zlib();
    } else {
      run_zlib();
      run_diff();
    }
    state.SetIterationTime(d.wall);
    diff += d;
    zlib += z;
  }
  double n = static_cast<double>(state.iterations());
  state.SetBytesProcessed(static_cast<int64_t>(bytes * n));
  SetRates(state, diff, bytes * n, "");
  SetRates(state, zlib, static_cast<double>(sample.size()) * n, "zlib6_");
  double diff_wall = bytes / diff.wall, diff_cpu = bytes / diff.cpu;
  double zlib_wall = static_cast<double>(sample.size()) / zlib.wall;
  double zlib_cpu = static_cast<double>(sample.size()) / zlib.cpu;
  state.counters["ratio_vs_zlib6"] = diff_wall / zlib_wall;
  state.counters["ratio_vs_zlib6_cpu"] = diff_cpu / zlib_cpu;
  state.counters["compression"] = bytes / static_cast<double>(out);
  state.counters["zlib6_compression"] =
      static_cast<double>(sample.size()) / static_cast<double>(zout);
}

// Reference alone: raw zstd 3 over the in-memory tar. Arg: workers (0 = no MT).
void BM_RawZstd3(benchmark::State& state) {
  Fixture& f = Get();
  const std::string& tar = f.Tar();
  Timing total;
  for (auto _ : state) {
    Timing t =
        Time([&] { benchmark::DoNotOptimize(RawZstd3(tar, static_cast<int>(state.range(0)))); });
    state.SetIterationTime(t.wall);
    total += t;
  }
  double all = static_cast<double>(tar.size()) * static_cast<double>(state.iterations());
  state.SetBytesProcessed(static_cast<int64_t>(all));
  SetRates(state, total, all, "");
}

// Kiln's gzip encoder alone (no tree walk) on the zlib reference's sample, per level, to
// choose the default level. Args: threads, level.
void BM_GzipEncoderOnly(benchmark::State& state) {
  Fixture& f = Get();
  const std::string& sample = f.TarSample();
  EncoderOptions o;
  o.compression = Compression::kGzip;
  o.threads = static_cast<int>(state.range(0));
  o.level = static_cast<int>(state.range(1));
  int64_t out_size = 1;
  Timing total;
  for (auto _ : state) {
    Timing t = Time([&] {
      NullSink sink;
      auto enc = LayerEncoder::Create(o, &sink);
      if (!enc.ok()) {
        state.SkipWithError("encoder");
        return;
      }
      for (size_t pos = 0; pos < sample.size(); pos += 1 << 20) {
        (void)(*enc)->Write(sample.data() + pos, std::min<size_t>(1 << 20, sample.size() - pos));
      }
      auto d = (*enc)->Finish();
      if (d.ok()) out_size = d->size;
    });
    state.SetIterationTime(t.wall);
    total += t;
  }
  double all = static_cast<double>(sample.size()) * static_cast<double>(state.iterations());
  state.SetBytesProcessed(static_cast<int64_t>(all));
  SetRates(state, total, all, "");
  state.counters["compression"] =
      static_cast<double>(sample.size()) / static_cast<double>(out_size);
}

void BM_Zlib6Only(benchmark::State& state) {
  Fixture& f = Get();
  const std::string& sample = f.TarSample();
  size_t out = 1;
  Timing total;
  for (auto _ : state) {
    Timing t = Time([&] { out = Zlib6(sample); });
    state.SetIterationTime(t.wall);
    total += t;
  }
  double all = static_cast<double>(sample.size()) * static_cast<double>(state.iterations());
  state.SetBytesProcessed(static_cast<int64_t>(all));
  SetRates(state, total, all, "");
  state.counters["compression"] = static_cast<double>(sample.size()) / static_cast<double>(out);
}

// Arg: 0 tar, 1 zstd, 2 gzip. Removing the result is excluded from wall and CPU time.
void BM_Apply(benchmark::State& state) {
  Fixture& f = Get();
  int which = static_cast<int>(state.range(0));
  const std::string& blob = which == 0 ? f.Tar() : which == 1 ? f.ZstdBlob() : f.GzipBlob();
  int round = 0;
  Timing total;
  for (auto _ : state) {
    std::string dst = f.tmp.path() + "/apply" + std::to_string(round++);
    ::mkdir(dst.c_str(), 0755);
    Timing t = Time([&] {
      StringSource src(blob);
      auto r = ApplyLayer(&src, dst);
      if (!r.ok()) state.SkipWithError(std::string(r.status().message()).c_str());
    });
    state.SetIterationTime(t.wall);
    total += t;
    (void)base::RemoveTree(dst);
  }
  double all = static_cast<double>(f.Tar().size()) * static_cast<double>(state.iterations());
  state.SetBytesProcessed(static_cast<int64_t>(all));
  SetRates(state, total, all, "");
}

// Metadata-heavy layers: 20,000 files of 1 KiB in 100 directories (like node_modules).
struct SmallTree {
  base::TempDir tmp;
  std::string tree;
  std::string blob;  // zstd layer
  int files = 0;
};

SmallTree& GetSmall() {
  static SmallTree st = [] {
    SmallTree s;
    const char* dir_env = std::getenv("KILN_BENCH_DIR");
    auto t = base::TempDir::Create("kiln-bench-small-", dir_env != nullptr ? dir_env : "");
    if (!t.ok()) Die(std::string(t.status().message()));
    s.tmp = std::move(*t);
    s.tree = s.tmp.path() + "/tree";
    ::mkdir(s.tree.c_str(), 0755);
    std::string content(1024, 'x');
    for (int d = 0; d < 100; ++d) {
      std::string dir = s.tree + "/pkg" + std::to_string(d);
      ::mkdir(dir.c_str(), 0755);
      for (int i = 0; i < 200; ++i) {
        content[static_cast<size_t>(i)] = static_cast<char>('a' + d % 26);
        FILE* fp = std::fopen((dir + "/f" + std::to_string(i) + ".js").c_str(), "w");
        if (fp == nullptr) Die("create small file");
        std::fwrite(content.data(), 1, content.size(), fp);
        std::fclose(fp);
        ++s.files;
      }
    }
    StringSink b;
    DiffOptions o;
    o.encoder.compression = Compression::kZstd;
    if (!DiffTrees("", s.tree, o, &b).ok()) Die("small tree diff");
    s.blob = std::move(b.data);
    return s;
  }();
  return st;
}

void SetFileRates(benchmark::State& state, const Timing& t, int files) {
  double n = static_cast<double>(files) * static_cast<double>(state.iterations());
  state.counters["files/s"] = t.wall > 0 ? n / t.wall : 0;
  state.counters["files/cpu_s"] = t.cpu > 0 ? n / t.cpu : 0;
}

void BM_SmallFilesDiff(benchmark::State& state) {
  SmallTree& s = GetSmall();
  DiffOptions o;
  o.encoder.compression = Compression::kZstd;
  Timing total;
  for (auto _ : state) {
    Timing t = Time([&] {
      NullSink sink;
      if (!DiffTrees("", s.tree, o, &sink).ok()) state.SkipWithError("diff");
    });
    state.SetIterationTime(t.wall);
    total += t;
  }
  SetFileRates(state, total, s.files);
}

void BM_SmallFilesApply(benchmark::State& state) {
  SmallTree& s = GetSmall();
  int round = 0;
  Timing total;
  for (auto _ : state) {
    std::string dst = s.tmp.path() + "/apply" + std::to_string(round++);
    ::mkdir(dst.c_str(), 0755);
    Timing t = Time([&] {
      StringSource src(s.blob);
      if (!ApplyLayer(&src, dst).ok()) state.SkipWithError("apply");
    });
    state.SetIterationTime(t.wall);
    total += t;
  }
  // Removed only afterwards: ext4 scans past recently deleted inodes when creating new ones,
  // which would make each iteration measure the previous one's deletion.
  for (int i = 0; i < round; ++i)
    (void)base::RemoveTree(s.tmp.path() + "/apply" + std::to_string(i));
  SetFileRates(state, total, s.files);
}

#define KILN_BENCH_OPTS(n) ->Unit(benchmark::kMillisecond)->UseManualTime()->Iterations(n)
BENCHMARK(BM_DiffNone) KILN_BENCH_OPTS(2);
BENCHMARK(BM_DiffZstdVsRaw)->Arg(2)->Arg(1) KILN_BENCH_OPTS(4);
BENCHMARK(BM_DiffGzipVsZlib6)->Args({2, 0})->Args({1, 0}) KILN_BENCH_OPTS(2);
BENCHMARK(BM_RawZstd3)->Arg(0)->Arg(1)->Arg(2) KILN_BENCH_OPTS(2);
BENCHMARK(BM_Zlib6Only) KILN_BENCH_OPTS(1);
BENCHMARK(BM_GzipEncoderOnly)
    ->Args({1, 1})
    ->Args({1, 2})
    ->Args({1, 3})
    ->Args({1, 4})
    ->Args({1, 5})
    ->Args({1, 6})
    ->Args({2, 0}) KILN_BENCH_OPTS(1);
BENCHMARK(BM_Apply)->Arg(0)->Arg(1)->Arg(2) KILN_BENCH_OPTS(2);
BENCHMARK(BM_SmallFilesDiff) KILN_BENCH_OPTS(3);
BENCHMARK(BM_SmallFilesApply) KILN_BENCH_OPTS(3);

}  // namespace
}  // namespace kiln::snapshotter

BENCHMARK_MAIN();
