// BuildSession: a build's recorded steps, warnings and cache exports.
#include <set>

#include "absl/strings/str_cat.h"
#include "base/status.h"
#include "engine/remotecache/remote_cache_seam.h"
#include "engine/remotecache/store_for.h"

namespace kiln::engine::remotecache {
namespace {

// A store type this build of Kiln cannot reach yet: every call fails with `why`.
class UnsupportedStore : public CacheStore {
 public:
  UnsupportedStore(std::string name, std::string why)
      : name_(std::move(name)), why_(std::move(why)) {}
  absl::StatusOr<std::optional<CacheDescription>> Read() override { return Error(); }
  absl::Status FetchLayer(const CacheLayer&, cache::ContentStore&) override { return Error(); }
  absl::Status Write(const CacheDescription&, cache::ContentStore&) override { return Error(); }
  std::string Name() const override { return name_; }

 private:
  absl::Status Error() const { return absl::UnimplementedError(why_); }
  std::string name_;
  std::string why_;
};

snapshotter::Compression CompressionOf(const CacheExport& spec) {
  if (spec.compression == "zstd") return snapshotter::Compression::kZstd;
  if (spec.compression == "uncompressed") return snapshotter::Compression::kNone;
  return snapshotter::Compression::kGzip;
}

}  // namespace

std::unique_ptr<CacheStore> StoreFor(const CacheImport& spec, const RegistryClientFactory& clients,
                                     cache::ContentStore* scratch) {
  if (spec.type == CacheType::kLocal) return LocalCacheStore(spec.src);
  if (!clients) return std::make_unique<UnsupportedStore>(spec.Source(), "no registry access");
  return RegistryCacheStore(spec.ref, clients, scratch);
}

std::unique_ptr<CacheStore> StoreFor(const CacheExport& spec, const RegistryClientFactory& clients,
                                     cache::ContentStore* scratch) {
  if (spec.type == CacheType::kLocal) return LocalCacheStore(spec.dest);
  if (!clients) {
    return std::make_unique<UnsupportedStore>("registry:" + spec.ref, "no registry access");
  }
  return RegistryCacheStore(spec.ref, clients, scratch);
}

BuildSession::~BuildSession() { seam_->Unregister(this); }

void BuildSession::Warn(std::string w) {
  absl::MutexLock lock(&mu_);
  warnings_.push_back(std::move(w));
}

std::vector<std::string> BuildSession::TakeWarnings() {
  absl::MutexLock lock(&mu_);
  return std::exchange(warnings_, {});
}

void BuildSession::Record(const RecordedStep& step) {
  absl::MutexLock lock(&mu_);
  recorded_[step.key] = step;
}

namespace {

// The description of `steps`, with each result's layer chain made (or reused) in `c`.
absl::StatusOr<CacheDescription> Describe(RemoteCacheSeam& seam,
                                          const std::vector<RecordedStep>& steps,
                                          snapshotter::Compression c, std::optional<int64_t> epoch,
                                          cache::Lease* hold) {
  CacheDescription d;
  std::map<std::string, size_t> layer_of_snapshot;  // snapshot -> index into d.layers
  std::map<base::Digest, size_t> layer_index;       // blob -> index into d.layers
  for (const RecordedStep& step : steps) {
    CacheEntry e;
    e.key = step.key;
    e.description = step.description;
    if (!step.snapshot.empty()) {
      KILN_ASSIGN_OR_RETURN(std::vector<std::string> chain, seam.layers().Chain(step.snapshot));
      for (const std::string& s : chain) {
        auto it = layer_of_snapshot.find(s);
        if (it == layer_of_snapshot.end()) {
          KILN_ASSIGN_OR_RETURN(LayerInfo l, seam.layers().LayerOf(s, c, epoch));
          if (hold != nullptr) KILN_RETURN_IF_ERROR(hold->HoldBlob(l.digest));
          auto [li, added] = layer_index.emplace(l.digest, d.layers.size());
          if (added) d.layers.push_back(CacheLayer{l.digest, l.diff_id, l.size, l.media_type});
          it = layer_of_snapshot.emplace(s, li->second).first;
        }
        e.chain.push_back(it->second);
      }
      e.created = seam.CreatedOf(step.snapshot);
    }
    d.records.push_back(std::move(e));
  }
  return d;
}

}  // namespace

absl::Status BuildSession::Export(const std::string& top,
                                  std::optional<int64_t> source_date_epoch) {
  return ExportSteps(top, /*failed=*/false, source_date_epoch);
}

void BuildSession::ExportAfterFailure(std::optional<int64_t> source_date_epoch) {
  absl::Status st = ExportSteps("", /*failed=*/true, source_date_epoch);
  if (!st.ok()) Warn(std::string(st.message()));
}

absl::Status BuildSession::ExportSteps(const std::string& top, bool failed,
                                       std::optional<int64_t> source_date_epoch) {
  if (exports_.empty()) return absl::OkStatus();
  std::vector<RecordedStep> all;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [key, step] : recorded_) all.push_back(step);
  }
  std::set<std::string> final_chain;
  if (!top.empty()) {
    KILN_ASSIGN_OR_RETURN(std::vector<std::string> chain, seam_->layers().Chain(top));
    final_chain.insert(chain.begin(), chain.end());
  }
  const Worker& w = seam_->worker();
  for (const CacheExport& spec : exports_) {
    if (failed && !spec.on_failure) continue;
    std::vector<RecordedStep> steps;
    for (const RecordedStep& s : all) {
      if (failed || spec.mode == CacheMode::kMax || final_chain.contains(s.snapshot) ||
          (s.snapshot.empty() && top.empty())) {
        steps.push_back(s);
      }
    }
    std::unique_ptr<CacheStore> store = StoreFor(spec, clients_, w.content);
    absl::Status st = [&]() -> absl::Status {
      cache::Lease hold = w.leases != nullptr ? w.leases->NewLease() : cache::Lease();
      KILN_ASSIGN_OR_RETURN(CacheDescription d,
                            Describe(*seam_, steps, CompressionOf(spec), source_date_epoch,
                                     w.leases != nullptr ? &hold : nullptr));
      // Merge with what is there (newest wins per key); an unreadable cache is replaced.
      absl::StatusOr<std::optional<CacheDescription>> old = store->Read();
      if (!old.ok()) {
        Warn(absl::StrCat("export cache ", store->Name(),
                          ": replacing what is there: ", old.status().message()));
      } else if (old->has_value()) {
        d = MergeDescriptions(**old, d);
      }
      return store->Write(d, *w.content);
    }();
    if (!st.ok()) {
      st = base::Annotate(st, absl::StrCat("export cache ", store->Name()));
      if (!spec.ignore_error) return st;
      Warn(std::string(st.message()) + " (ignored: ignore-error=true)");
    }
  }
  return absl::OkStatus();
}

}  // namespace kiln::engine::remotecache
