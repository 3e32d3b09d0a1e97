#include "engine/core/local_engine.h"

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <set>
#include <thread>
#include <variant>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "base/fs.h"
#include "base/status.h"
#include "base/temp_dir.h"
#include "cache/fs_content_store.h"
#include "cache/gc.h"
#include "cache/lease.h"
#include "cache/lmdb_cache_index.h"
#include "engine/copy/context_checksums.h"
#include "engine/copy/copy_reuse.h"
#include "engine/core/base_image.h"
#include "engine/core/build_files.h"
#include "engine/core/cache_seam.h"
#include "engine/core/entitlements.h"
#include "engine/core/event_bridge.h"
#include "engine/core/prune_support.h"
#include "engine/core/registry_images.h"
#include "engine/core/run_image.h"
#include "engine/core/worker_info.h"
#include "engine/exporters/exporter.h"
#include "engine/frontend/lower.h"
#include "engine/image/image_store.h"
#include "engine/image/state_root.h"
#include "engine/image/store_resolver.h"
#include "engine/oci/manifest.h"
#include "engine/oci/media_types.h"
#include "engine/ops/build_ops.h"
#include "engine/ops/cache_mount.h"
#include "engine/ops/exec_op.h"
#include "engine/ops/image_source_op.h"
#include "engine/ops/layers.h"
#include "engine/ops/results.h"
#include "engine/ops/sandbox_executor.h"
#include "engine/ops/worker.h"
#include "engine/registry/registry_scan.h"
#include "engine/remotecache/remote_cache_seam.h"
#include "engine/solver/cancellation.h"
#include "engine/solver/solver.h"
#include "sandbox/cancel.h"
#include "snapshotter/probe.h"

namespace kiln::engine {
namespace {

// Removes leftovers of a killed process in tmp/: detaches any mount still there, then deletes.
void CleanTmp(const std::string& tmp) {
  base::UniqueFd dir(::open(tmp.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir) return;
  absl::StatusOr<std::vector<std::string>> names = base::ListDirNames(dir.get());
  if (!names.ok()) return;
  for (const std::string& n : *names) {
    std::string p = tmp + "/" + n;
    while (::umount2(p.c_str(), MNT_DETACH) == 0) {
    }
    (void)base::RemoveTree(p);
  }
}

std::optional<int64_t> SourceDateEpoch(const BuildRequest& req) {
  std::string v;
  if (auto it = req.build_args.find("SOURCE_DATE_EPOCH"); it != req.build_args.end()) {
    v = it->second;
  } else if (const char* env = std::getenv("SOURCE_DATE_EPOCH")) {
    v = env;
  }
  int64_t n = 0;
  if (!v.empty() && absl::SimpleAtoi(v, &n)) return n;
  return std::nullopt;
}

// The layer compression for a build's outputs (LayerCompressionFor's rules).
std::optional<snapshotter::Compression> LayerCompression(const std::vector<Output>& exports) {
  std::optional<OutputCompression> c = LayerCompressionFor(exports);
  if (!c) return std::nullopt;
  switch (*c) {
    case OutputCompression::kZstd:
      return snapshotter::Compression::kZstd;
    case OutputCompression::kUncompressed:
      return snapshotter::Compression::kNone;
    case OutputCompression::kGzip:
      break;
  }
  return snapshotter::Compression::kGzip;
}

class LocalEngine : public Engine {
 public:
  static absl::StatusOr<std::unique_ptr<Engine>> Open(const EngineOptions& options);

  absl::StatusOr<BuildResult> Build(const BuildRequest& request, BuildEventSink events,
                                    solver::Cancellation* cancel) override;
  absl::StatusOr<std::vector<ImageSummary>> ListImages() override;
  absl::StatusOr<std::vector<std::string>> ImportImage(const std::string& path,
                                                       const std::string& name) override;
  absl::Status RemoveImage(const std::string& ref) override;
  absl::StatusOr<ImagePullResult> PullImage(const ImagePullRequest& request) override {
    return PullWith(*transfer_, request);
  }
  absl::StatusOr<ImagePushResult> PushImage(const ImagePushRequest& request) override {
    return PushWith(*transfer_, request);
  }
  absl::StatusOr<std::vector<UsageRecord>> DiskUsage() override;
  absl::StatusOr<PruneReport> Prune(const PruneOptions& options) override;
  WorkerInfo Workers() override;
  EngineStores Stores() override {
    return EngineStores{content_.get(), snapshots_.get(), index_.get(), images_.get(),
                        layers_.get(),  &leases_,         &prune_mu_};
  }
  absl::StatusOr<int> RunImage(const std::string& ref, const RunOptions& options) override;

 private:
  // The start of the oldest running build or image run, if any.
  std::optional<absl::Time> OldestRunning();

  // Registers a running build (or image run) for its lifetime.
  class Running {
   public:
    explicit Running(LocalEngine* e) : e_(e) {
      absl::MutexLock lock(&e_->running_mu_);
      it_ = e_->running_.insert(absl::Now());
    }
    ~Running() {
      absl::MutexLock lock(&e_->running_mu_);
      e_->running_.erase(it_);
    }
    Running(const Running&) = delete;
    Running& operator=(const Running&) = delete;

   private:
    LocalEngine* e_;
    std::multiset<absl::Time>::iterator it_;
  };

  EngineOptions options_;
  // Declared first so it outlives everything that holds leases (seam, solver results, GC).
  cache::LeaseManager leases_;
  std::unique_ptr<cache::ContentStore> content_;
  std::unique_ptr<snapshotter::Snapshotter> snapshots_;
  std::string driver_reason_;
  std::unique_ptr<cache::CacheIndex> index_;
  std::unique_ptr<image::ImageStore> images_;
  std::unique_ptr<image::StoreImageResolver> resolver_;
  Worker worker_;
  std::unique_ptr<LayerStore> layers_;
  std::unique_ptr<ContextChecksums> checksums_;
  std::unique_ptr<CopyReuse> copy_reuse_;
  std::unique_ptr<sandbox::Sandbox> sandbox_;
  std::unique_ptr<SandboxExecutor> executor_;  // RUN, through sandbox_
  std::unique_ptr<MountTreeAccess> trees_;     // snapshot trees, mounted in tmp/
  std::unique_ptr<SnapshotCacheSeam> seam_;
  std::unique_ptr<remotecache::RemoteCacheSeam> remote_seam_;  // seam_ plus imported caches
  std::unique_ptr<solver::Solver> solver_;
  std::unique_ptr<SnapshotterRemover> remover_;
  std::unique_ptr<EngineGcReferences> gc_refs_;
  std::unique_ptr<cache::GarbageCollector> gc_;
  // Pulls and pushes; pulls hold prune_mu_ while they write blobs and store the ref.
  std::unique_ptr<registry::ImageTransfer> transfer_;
  // Serializes Prunes (and image imports, see ImportImage). Builds never take it: GC runs
  // concurrently with them and leases keep it off whatever they use.
  absl::Mutex prune_mu_;
  // Start times of running builds and image runs (see RemoveOrphanSnapshots).
  absl::Mutex running_mu_;
  std::multiset<absl::Time> running_ ABSL_GUARDED_BY(running_mu_);
};

absl::StatusOr<std::unique_ptr<Engine>> LocalEngine::Open(const EngineOptions& options) {
  auto e = std::unique_ptr<LocalEngine>(new LocalEngine());
  e->options_ = options;
  std::string root = options.root.empty() ? image::DefaultStateRoot() : options.root;
  e->options_.root = root;
  if (::geteuid() != 0) {
    return absl::FailedPreconditionError(
        "open engine: not root and not inside a rootless user namespace; call "
        "base::EnterRootlessNamespace() first");
  }
  KILN_RETURN_IF_ERROR(base::MkdirAll(root, 0700));
  std::string tmp = root + "/tmp";
  KILN_RETURN_IF_ERROR(base::MkdirAll(tmp, 0700));
  CleanTmp(tmp);
  KILN_ASSIGN_OR_RETURN(e->content_, cache::OpenFsContentStore(root + "/content"));
  snapshotter::Driver driver = snapshotter::Driver::kAuto;
  if (options.snapshotter == "overlay") driver = snapshotter::Driver::kOverlay;
  if (options.snapshotter == "native") driver = snapshotter::Driver::kNative;
  KILN_ASSIGN_OR_RETURN(snapshotter::OpenedSnapshotter opened,
                        snapshotter::OpenSnapshotter(root + "/snapshots", driver));
  e->snapshots_ = std::move(opened.snapshotter);
  e->driver_reason_ = opened.reason;
  KILN_ASSIGN_OR_RETURN(e->index_, cache::OpenLmdbCacheIndex(root + "/cache"));
  KILN_ASSIGN_OR_RETURN(e->images_, image::ImageStore::Open(root + "/images", e->content_.get()));
  e->resolver_ = std::make_unique<image::StoreImageResolver>(e->images_.get());
  e->worker_.content = e->content_.get();
  e->worker_.snapshots = e->snapshots_.get();
  e->worker_.driver = std::string(snapshotter::DriverName(opened.driver));
  e->worker_.root = root;
  e->worker_.tmp = tmp;
  e->worker_.default_network =
      options.default_network.empty() ? "default" : options.default_network;
  KILN_ASSIGN_OR_RETURN(e->layers_, LayerStore::Open(&e->worker_, root + "/layers"));
  e->checksums_ = std::make_unique<ContextChecksums>(root + "/checksums");
  e->worker_.checksums = e->checksums_.get();
  e->copy_reuse_ = std::make_unique<CopyReuse>(root + "/copy-reuse");
  e->worker_.copy_reuse = e->copy_reuse_.get();
  e->worker_.leases = &e->leases_;
  sandbox::SandboxOptions so;
  so.state_dir = tmp;
  so.network.slirp4netns = options.slirp4netns;
  so.network.dns_servers = options.dns_servers;
  KILN_ASSIGN_OR_RETURN(e->sandbox_, sandbox::Sandbox::Create(std::move(so)));
  e->executor_ = std::make_unique<SandboxExecutor>(e->sandbox_.get());
  e->trees_ = std::make_unique<MountTreeAccess>(tmp);
  e->seam_ = std::make_unique<SnapshotCacheSeam>(&e->worker_, e->index_.get(), &e->leases_);
  solver::SolverOptions sopts;
  // Steps wait on processes and I/O as much as on CPU, so by default run two per core (at
  // least four): three independent `RUN sleep 2` stages then finish in about 2 s, not 4.
  sopts.max_parallelism = options.max_parallelism != 0
                              ? options.max_parallelism
                              : std::max<size_t>(4, 2 * std::thread::hardware_concurrency());
  e->remote_seam_ = std::make_unique<remotecache::RemoteCacheSeam>(
      e->seam_.get(), &e->worker_, e->layers_.get(), e->index_.get(), root + "/remotecache");
  sopts.cache = e->remote_seam_.get();
  e->solver_ = std::make_unique<solver::Solver>(sopts);
  e->remover_ = std::make_unique<SnapshotterRemover>(e->snapshots_.get());
  cache::GcOptions gco;
  gco.index = e->index_.get();
  gco.snapshots = e->remover_.get();
  gco.store = e->content_.get();
  gco.leases = &e->leases_;
  e->gc_refs_ =
      std::make_unique<EngineGcReferences>(e->images_.get(), e->layers_.get(), e->snapshots_.get());
  gco.references = e->gc_refs_.get();
  e->gc_ = std::make_unique<cache::GarbageCollector>(gco);
  e->transfer_ = std::make_unique<registry::ImageTransfer>(e->images_.get(), &e->prune_mu_,
                                                           &e->leases_, RegistryHosts(options));
  return std::unique_ptr<Engine>(std::move(e));
}

absl::StatusOr<BuildResult> LocalEngine::Build(const BuildRequest& req, BuildEventSink events,
                                               solver::Cancellation* cancel) {
  Running running(this);
  // Holds the blobs the export makes or reuses until they are stored (released on every
  // return path). Snapshots are held by the solver's results (results.h).
  cache::Lease lease = leases_.NewLease();
  if (req.context_dir.empty() || req.context_dir[0] != '/') {
    return absl::InvalidArgumentError("build: the context directory must be an absolute path");
  }
  std::string df_name = req.dockerfile_name.empty() ? "Dockerfile" : req.dockerfile_name;
  // Through fds below their directories: kilnd reads them as root for its callers.
  KILN_ASSIGN_OR_RETURN(BuildFiles files,
                        ReadBuildFiles(req.context_dir, req.dockerfile_dir, df_name));
  std::optional<snapshotter::Compression> compression = LayerCompression(req.exports);

  LowerOptions lo;
  lo.filename = df_name;
  lo.target = req.target;
  lo.build_args = req.build_args;
  lo.context_excludes = std::move(files.excludes);
  lo.context_id = std::move(files.context_id);
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<ImageResolver> resolver,
                        BuildResolver(*transfer_, resolver_.get(), req));
  lo.resolver = resolver.get();
  std::unique_ptr<registry::RegistryScan> scan;
  if (req.registries_only) {
    KILN_ASSIGN_OR_RETURN(registry::PullPolicy policy, registry::ParsePullPolicy(req.pull));
    scan = std::make_unique<registry::RegistryScan>(resolver_.get(), policy);
    lo.resolver = scan.get();
  }
  if (!req.platform.empty()) lo.target_platform = req.platform;
  KILN_ASSIGN_OR_RETURN(LoweredBuild lowered, LowerDockerfileText(files.dockerfile_text, lo));
  if (scan != nullptr) return BuildResult{.repositories = scan->repositories()};
  KILN_RETURN_IF_ERROR(CheckEntitlements(lowered.graph, df_name, req.network, req.entitlements,
                                         options_.insecure_entitlements));

  OpFactory ops =
      MakeBuildOpFactory(worker_, layers_.get(), executor_.get(), trees_.get(), req.context_dir);
  KILN_ASSIGN_OR_RETURN(std::vector<solver::VertexRef> vertices,
                        ops.MakeVertices(lowered.graph, df_name));
  EventBridge bridge(std::move(events));
  std::vector<std::string> warns;
  for (const std::string& w : lowered.warnings) warns.push_back("WARN: " + w);
  bridge.Note("[internal] load build definition from " + df_name, warns);
  bridge.Warnings(lowered.checks);
  if (lowered.checks_fail) return CheckViolation(lowered.checks);
  if (req.check_only) return BuildResult{};
  solver::BuildRequest sreq;
  sreq.outputs = {vertices.at(lowered.final_vertex)};
  sreq.options.no_cache = req.no_cache;
  sreq.options.max_parallelism = req.max_parallelism;
  SetSecretAttrs(req.secrets, &sreq.options.attrs);
  if (!req.network.empty()) sreq.options.attrs[kNetworkAttr] = req.network;
  sreq.progress = [&bridge](const solver::ProgressEvent& e) { bridge.OnEvent(e); };
  sreq.cancel = cancel;
  std::set<base::Digest> vertex_digests;  // read only by cache exports
  if (!req.cache_exports.empty()) {
    for (const solver::VertexRef& v : vertices) vertex_digests.insert(v->digest());
  }
  std::unique_ptr<remotecache::BuildSession> rcache =
      remote_seam_->BeginBuild(req.cache_imports, req.cache_exports, std::move(vertex_digests),
                               RegistryClientsFor(*transfer_, req));
  auto cache_note = [&](const std::string& name) {
    std::vector<std::string> lines = rcache->TakeWarnings();
    for (std::string& w : lines) w = "WARN: " + w;
    if (!lines.empty()) bridge.Note(name, lines);
  };
  cache_note("[internal] import cache");
  absl::StatusOr<solver::SolveResult> solve = solver_->Solve(sreq);
  cache_note("[internal] import cache layers");
  (void)checksums_->SaveAll();  // keep what was hashed even when the build failed
  if (!solve.ok()) {
    // on-failure=true exports keep the finished steps; the build's own error is what it returns.
    rcache->ExportAfterFailure(SourceDateEpoch(req));
    cache_note("[internal] export cache");
    return solve.status();
  }
  solver::SolveResult& solved = *solve;
  auto* top = dynamic_cast<const SnapshotResult*>(solved.outputs.at(0).get());
  if (top == nullptr)
    return absl::InternalError("build: the final step did not produce a filesystem");

  BuildResult result;
  // Before the image, so the image reuses the layers the cache export compressed.
  KILN_RETURN_IF_ERROR(rcache->Export(top->snapshot(), SourceDateEpoch(req)));
  cache_note("[internal] export cache");
  result.steps = bridge.Timings();
  for (const auto& s : result.steps) {
    ++result.steps_total;
    if (s.cached) ++result.steps_cached;
  }
  if (req.exports.empty()) return result;

  ImageSpec spec;
  spec.top_snapshot = top->snapshot();
  KILN_ASSIGN_OR_RETURN(spec.base, BaseImageOf(*content_, lowered));
  spec.config = lowered.config;
  spec.author = lowered.author;
  for (const auto& h : lowered.history) {
    oci::History oh;
    oh.created_by = h.created_by;
    oh.empty_layer = h.empty_layer;
    spec.history.push_back(std::move(oh));
  }
  spec.compression = compression;
  spec.source_date_epoch = SourceDateEpoch(req);
  spec.created = remote_seam_->ImportedCreated(spec.top_snapshot);
  KILN_ASSIGN_OR_RETURN(BuiltImage built, AssembleImage(worker_, *layers_, spec, &lease));
  for (const Output& out : req.exports) {
    // An image output is stored before the lease that holds the blobs goes: a prune that
    // marked earlier sees the image store's version move and marks again.
    KILN_RETURN_IF_ERROR(ExportImage(worker_, *images_, built, spec.top_snapshot, out));
    if (const auto* image = std::get_if<ImageOutput>(&out); image != nullptr && image->push) {
      KILN_RETURN_IF_ERROR(PushExport(*transfer_, *image, req));
    }
  }
  result.manifest_digest = built.manifest.digest;
  result.config_digest = built.config_digest;
  result.image_size_bytes = built.size_bytes;
  return result;
}

absl::StatusOr<std::vector<ImageSummary>> LocalEngine::ListImages() {
  KILN_ASSIGN_OR_RETURN(auto records, images_->List());
  std::vector<ImageSummary> out;
  for (const auto& r : records) {
    ImageSummary s;
    s.ref = r.ref;
    s.manifest_digest = r.target.digest;
    s.created_unix = absl::ToUnixSeconds(r.created);
    s.size_bytes = r.target.size;
    absl::StatusOr<oci::PlatformImage> image = images_->Resolve(r, oci::Platform::Default());
    if (image.ok()) {
      s.size_bytes += image->manifest.config.size;
      for (const auto& l : image->manifest.layers) s.size_bytes += l.size;
    }
    out.push_back(std::move(s));
  }
  return out;
}

absl::StatusOr<std::vector<std::string>> LocalEngine::ImportImage(const std::string& path,
                                                                  const std::string& name) {
  // An import writes blobs that no lease holds and only its Put makes roots: serialized with
  // Prune, so they are never collected between their write and that Put.
  absl::MutexLock prune_lock(&prune_mu_);
  image::ImportOptions o;
  o.name = name;
  KILN_ASSIGN_OR_RETURN(auto records, images_->Import(path, o));
  std::vector<std::string> refs;
  for (const auto& r : records) refs.push_back(r.ref);
  return refs;
}

absl::Status LocalEngine::RemoveImage(const std::string& ref) { return images_->Remove(ref); }

absl::StatusOr<std::vector<UsageRecord>> LocalEngine::DiskUsage() {
  KILN_ASSIGN_OR_RETURN(std::vector<cache::DiskUsageEntry> rows, gc_->DiskUsage());
  std::map<std::string, std::string> descriptions;
  std::set<std::string> imported;  // records materialized from --import-cache
  KILN_RETURN_IF_ERROR(index_->Walk([&](const cache::CacheKey& k, const cache::CacheRecord& r) {
    if (auto it = r.extra.find("description"); it != r.extra.end())
      descriptions[k.str()] = it->second;
    if (r.extra.contains("imported")) imported.insert(k.str());
  }));
  std::vector<UsageRecord> out;
  for (const auto& row : rows) {
    UsageRecord u;
    u.id = row.key.str();
    u.kind = row.snapshot.rfind("layer-", 0) == 0 ? "image-layer" : "snapshot";
    if (imported.contains(u.id)) u.kind = "imported";
    u.description = descriptions[u.id];
    u.size_bytes = row.size;
    u.last_used_unix = absl::ToUnixSeconds(row.last_used);
    u.shared = row.shared;
    u.in_use = row.in_use;
    out.push_back(std::move(u));
  }
  return out;
}

std::optional<absl::Time> LocalEngine::OldestRunning() {
  absl::MutexLock lock(&running_mu_);
  if (running_.empty()) return std::nullopt;
  return *running_.begin();
}

absl::StatusOr<PruneReport> LocalEngine::Prune(const PruneOptions& options) {
  absl::MutexLock prune_lock(&prune_mu_);
  cache::GcPolicy policy;
  policy.all = options.all;
  int64_t keep_storage =
      options.keep_storage_bytes >= 0 ? options.keep_storage_bytes : options_.gc_keep_storage_bytes;
  if (keep_storage > 0) policy.keep_storage = keep_storage;
  absl::Duration keep = options.keep_duration == absl::InfiniteDuration()
                            ? options_.gc_keep_duration
                            : options.keep_duration;
  if (keep > absl::ZeroDuration()) policy.keep_duration = keep;
  if (!policy.all && !policy.keep_storage && !policy.keep_duration) {
    // Like `buildctl prune` without filters: everything that is not in use.
    policy.all = true;
  }
  PruneReport report;
  // Snapshots no record refers to (e.g. image layers unpacked for `run`) can hold up their
  // parents' records and keep their layer blobs marked, so with `all` remove them too and
  // collect again, until a round removes no orphan.
  constexpr int kMaxRounds = 4;
  for (int round = 0; round < kMaxRounds; ++round) {
    KILN_ASSIGN_OR_RETURN(cache::GcReport r, gc_->Prune(policy));
    report.bytes_freed += r.bytes_freed;
    report.records_removed += static_cast<int>(r.removed.size());
    if (!policy.all) break;
    KILN_ASSIGN_OR_RETURN(
        OrphanRemoval orphans,
        RemoveOrphanSnapshots(*snapshots_, *index_, leases_, [this] { return OldestRunning(); }));
    report.bytes_freed += orphans.bytes;
    if (orphans.count == 0) break;
  }
  // Memos of snapshots that are gone (their blobs are unmarked already).
  KILN_RETURN_IF_ERROR(RemoveOrphanLayerMemos(*layers_, *snapshots_, leases_).status());
  if (policy.all) {  // RUN --mount=type=cache directories nobody is using
    KILN_ASSIGN_OR_RETURN(CacheMountPruneReport c,
                          PruneCacheMounts(options_.root + "/cachemounts"));
    report.bytes_freed += c.bytes_freed;
    report.records_removed += c.instances_removed;
  }
  return report;
}

WorkerInfo LocalEngine::Workers() {
  WorkerSettings settings;
  settings.root = options_.root;
  settings.snapshotter = worker_.driver;
  settings.snapshotter_why = driver_reason_;
  settings.parallelism = solver_->parallelism();
  settings.default_network = worker_.default_network;
  return DescribeWorker(*sandbox_, settings);
}

absl::StatusOr<int> LocalEngine::RunImage(const std::string& ref, const RunOptions& options) {
  Running running(this);
  KILN_ASSIGN_OR_RETURN(oci::PlatformImage image, images_->Resolve(ref, oci::Platform::Default()));
  const base::Digest& manifest = image.manifest_descriptor.digest;
  // UnpackImage holds every layer of the chain (waiting out a concurrent removal and
  // unpacking again) until the container's snapshot is prepared on the top.
  cache::Lease lease = leases_.NewLease();
  KILN_ASSIGN_OR_RETURN(std::string top, UnpackImage(worker_, *layers_, manifest, nullptr, &lease));
  KILN_ASSIGN_OR_RETURN(sandbox::Spec spec,
                        ImageRunSpec(ref, image.config, options, options_.default_network));
  std::string key = NewSnapshotKey("container");
  KILN_ASSIGN_OR_RETURN(auto mounts, snapshots_->Prepare(key, top));
  absl::Cleanup remove = [&] { (void)snapshots_->Remove(key); };
  spec.rootfs = ForUserXattr(mounts);
  return RunWithCancel(*sandbox_, std::move(spec), options.cancel);
}

}  // namespace

absl::StatusOr<std::unique_ptr<Engine>> OpenLocalEngine(const EngineOptions& options) {
  return LocalEngine::Open(options);
}

absl::StatusOr<std::unique_ptr<Engine>> Engine::Open(const EngineOptions& options) {
  return OpenLocalEngine(options);
}

}  // namespace kiln::engine
