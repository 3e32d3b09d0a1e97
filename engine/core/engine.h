// Engine: the whole of Kiln behind one facade. `kilnctl build` runs it in-process and kilnd
// serves it over gRPC; both call exactly these methods.
//
// An Engine owns a state root (content store, snapshots, cache index, image store), a solver
// with its thread pool, and the per-context checksum caches (kept warm across builds).
// Thread-safe: builds may run concurrently; identical steps are shared between them.
#ifndef KILN_ENGINE_CORE_ENGINE_H_
#define KILN_ENGINE_CORE_ENGINE_H_

#include <cstdint>
#include <functional>
#include <string_view>
#include <map>
#include <optional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "base/digest.h"
#include "engine/core/events.h"
#include "engine/exporters/output.h"
#include "engine/remotecache/cache_spec.h"

namespace kiln::cache {
class CacheIndex;
class ContentStore;
class LeaseManager;
}  // namespace kiln::cache
namespace kiln::snapshotter {
class Snapshotter;
}  // namespace kiln::snapshotter

namespace kiln::engine {

namespace solver {
class Cancellation;
}  // namespace solver
namespace image {
class ImageStore;
}  // namespace image
class LayerStore;

// Options for one registry host (kilnd's [registry."host"] table).
struct RegistryHostConfig {
  std::vector<std::string> mirrors;    // "host[:port][/path-prefix]", tried in order for pulls
  std::optional<bool> http;            // plain HTTP; unset: only for loopback hosts
  bool insecure = false;               // HTTPS without certificate verification
  std::vector<std::string> ca;         // extra CA certificate files (PEM)
  std::string cert;                    // client key pair (PEM files)
  std::string key;
};

// Credentials for one registry, read by the client and handed over with the one request that
// needs them. Never stored, logged, or put into a cache key.
struct RegistryCredential {
  std::string registry;                // reference domain: "docker.io", "127.0.0.1:5000"
  std::string username;
  std::string password;
  std::string identity_token;
};

struct EngineOptions {
  std::string root;                 // state dir; empty = default (see DefaultStateRoot())
  size_t max_parallelism = 0;       // 0 = two per CPU, at least 4
  // For RUN without --network: "default" (own netns + slirp4netns), "none" or "host".
  std::string default_network = "default";
  std::string slirp4netns;               // the network helper; empty = "slirp4netns" in PATH
  std::vector<std::string> dns_servers;  // upstream resolvers for "default" RUNs; empty = host's
  std::vector<std::string> insecure_entitlements;  // granted when asked: "network.host"
  std::string snapshotter = "auto";       // "overlay", "native" or "auto"
  // GC policy applied by Prune() without arguments and by the daemon periodically.
  int64_t gc_keep_storage_bytes = 0;      // 0 = unlimited
  absl::Duration gc_keep_duration = absl::ZeroDuration();  // 0 = forever
  std::map<std::string, RegistryHostConfig> registries;  // by reference domain
};

struct BuildRequest {
  std::string context_dir;          // absolute
  std::string dockerfile_dir;       // absolute; empty = context_dir
  std::string dockerfile_name = "Dockerfile";
  std::string target;               // empty = last stage
  std::map<std::string, std::string> build_args;
  // May be empty (build only, results stay in the cache). kilnd parses them (ParseOutput).
  std::vector<Output> exports;
  // --export-cache / --import-cache (imports are asked in order); kilnd parses them.
  std::vector<remotecache::CacheExport> cache_exports;
  std::vector<remotecache::CacheImport> cache_imports;
  bool no_cache = false;
  size_t max_parallelism = 0;       // 0 = the engine's
  std::string network;              // default | none | host; empty = the engine's default
  std::vector<std::string> entitlements;  // asked for (kilnctl --allow): "network.host"
  std::string platform;             // empty = linux/amd64
  // RUN --mount=type=secret values: id -> path of a host file the engine reads (up to 500 KiB)
  // when a RUN that mounts the id executes. Never part of a cache key or a layer. The caller
  // (kilnd) must have checked that the client may read the file.
  std::map<std::string, std::string> secrets;
  // Run only the build checks (kilnctl build --check): parse and lower, report warnings as
  // events, run no step and export nothing.
  bool check_only = false;
  // FROM images: "missing" (default: the local store first, pull what is absent), "always"
  // (revalidate tags with the registry), "never" (local store only).
  std::string pull;
  std::vector<RegistryCredential> credentials;  // for registries FROM may pull from / push to
  // Only find the registries the build would contact for its images under `pull` (FROM, COPY
  // --from, RUN --mount=from, after ARG expansion; registry::RegistryScan): parse and lower,
  // no registry request, no step, no export; the answer is BuildResult::repositories. kilnctl
  // asks this first, then sends only those registries' credentials with the build.
  bool registries_only = false;
};

struct ImagePullRequest {
  std::string ref;                  // "busybox", "127.0.0.1:5000/a/b:1", "x@sha256:..."
  std::string platform;             // empty = linux/amd64
  std::vector<RegistryCredential> credentials;
};

struct ImagePullResult {
  std::string ref;                  // normalized, as stored
  base::Digest manifest_digest;     // the platform manifest
  int blobs_fetched = 0;
};

struct ImagePushRequest {
  std::string ref;                  // the local image
  std::string dest;                 // empty = ref
  std::string compression;          // for uncompressed layers: gzip (default) or zstd
  std::vector<RegistryCredential> credentials;
};

struct ImagePushResult {
  std::string dest;                 // normalized
  base::Digest manifest_digest;
  int64_t bytes_uploaded = 0;
  int blobs_uploaded = 0;
  int blobs_mounted = 0;
  int blobs_present = 0;
};

struct StepTiming {
  std::string vertex;               // digest
  std::string name;
  bool cached = false;
  int64_t started_unix_nanos = 0;
  int64_t completed_unix_nanos = 0;
};

struct BuildResult {
  base::Digest manifest_digest;     // of the final image (empty if nothing was exported)
  base::Digest config_digest;
  int64_t image_size_bytes = 0;     // compressed layers + config + manifest
  int steps_total = 0;
  int steps_cached = 0;
  std::vector<StepTiming> steps;
  std::vector<std::string> repositories;  // registries_only: "domain/path", sorted
};

struct ImageSummary {
  std::string ref;
  base::Digest manifest_digest;
  int64_t size_bytes = 0;
  int64_t created_unix = 0;
};

struct UsageRecord {
  std::string id;                   // cache key or blob digest
  std::string kind;                 // "snapshot", "blob", ...
  std::string description;          // instruction that made it, if known
  int64_t size_bytes = 0;
  int64_t last_used_unix = 0;
  bool shared = false;
  bool in_use = false;
};

struct PruneOptions {
  bool all = false;                 // every record no running build uses
  int64_t keep_storage_bytes = -1;  // -1 = engine default
  absl::Duration keep_duration = absl::InfiniteDuration();  // infinite = engine default
};

struct PruneReport {
  int64_t bytes_freed = 0;
  int records_removed = 0;
};

// Facts about the worker, for `kilnctl debug workers` and the Info RPC.
struct WorkerInfo {
  std::vector<std::pair<std::string, std::string>> facts;  // ordered key -> value
};

// The stores behind an engine, for `kilnctl debug verify` (engine/daemon/verify.h). Not owned;
// valid while the engine is. A null member is a store this engine does not have.
struct EngineStores {
  cache::ContentStore* content = nullptr;
  snapshotter::Snapshotter* snapshots = nullptr;
  cache::CacheIndex* index = nullptr;
  image::ImageStore* images = nullptr;
  LayerStore* layers = nullptr;
  cache::LeaseManager* leases = nullptr;
  // Held while the stores are checked or repaired: it keeps prunes, imports and pulls out
  // (builds never take it; leases keep a repair off what they use).
  absl::Mutex* exclusive = nullptr;
};

class Engine {
 public:
  static absl::StatusOr<std::unique_ptr<Engine>> Open(const EngineOptions& options);
  virtual ~Engine() = default;

  // Runs a build. `events` (optional) receives progress; `cancel` (optional, not owned)
  // aborts it. Errors: InvalidArgument for Dockerfile problems ("Dockerfile:12: ..."),
  // NotFound for a missing base image or context file, Cancelled, or the failing step's
  // error (stage, instruction, line, exit code, output tail).
  virtual absl::StatusOr<BuildResult> Build(const BuildRequest& request, BuildEventSink events,
                                            solver::Cancellation* cancel) = 0;

  virtual absl::StatusOr<std::vector<ImageSummary>> ListImages() = 0;
  // Imports an OCI layout dir, oci-archive or docker-archive; returns the refs imported.
  virtual absl::StatusOr<std::vector<std::string>> ImportImage(const std::string& path,
                                                               const std::string& name) = 0;
  virtual absl::Status RemoveImage(const std::string& ref) = 0;
  // Pulls an image from its registry into the store (usable by FROM like an imported one).
  // Errors: the registry's answer verbatim, DataLoss for content that fails verification.
  virtual absl::StatusOr<ImagePullResult> PullImage(const ImagePullRequest& request) {
    (void)request;
    return absl::UnimplementedError("pull image: not supported by this engine");
  }
  // Pushes a stored image to a registry. NotFound for an unknown local ref.
  virtual absl::StatusOr<ImagePushResult> PushImage(const ImagePushRequest& request) {
    (void)request;
    return absl::UnimplementedError("push image: not supported by this engine");
  }

  // Every cache record; `in_use` marks those a running build holds a lease on.
  virtual absl::StatusOr<std::vector<UsageRecord>> DiskUsage() = 0;
  // Garbage-collects cache records, snapshots and blobs by `options`. Runs concurrently with
  // builds (it neither waits for them nor makes them wait) and skips exactly what running
  // builds use: every build holds leases on the snapshots and blobs it uses (cache/lease.h).
  // Prunes are serialized among themselves.
  virtual absl::StatusOr<PruneReport> Prune(const PruneOptions& options) = 0;
  virtual WorkerInfo Workers() = 0;
  // The engine's stores (for debug verify); all null by default.
  virtual EngineStores Stores() { return {}; }

  // Runs an image from the store in the sandbox: its ENTRYPOINT + CMD (or ENTRYPOINT + args
  // when args are given), ENV (plus `env` overrides), WORKDIR and USER. Returns the process's
  // exit code (128+signal for a signal). Output goes to the callbacks as it arrives.
  struct RunOptions {
    std::vector<std::string> args;
    std::vector<std::string> env;                       // "K=V" overrides
    std::string network;                                // "" = engine default; host | none
    absl::Duration timeout = absl::InfiniteDuration();
    solver::Cancellation* cancel = nullptr;             // not owned
    std::function<void(std::string_view)> on_stdout;
    std::function<void(std::string_view)> on_stderr;
  };
  virtual absl::StatusOr<int> RunImage(const std::string& ref, const RunOptions& options) = 0;
};

}  // namespace kiln::engine

#endif  // KILN_ENGINE_CORE_ENGINE_H_
