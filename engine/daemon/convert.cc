#include "engine/daemon/convert.h"

#include <string>

#include "engine/daemon/registry_convert.h"

namespace kiln::engine::daemon {
namespace {

absl::StatusOr<base::Digest> ParseOptionalDigest(const std::string& text) {
  if (text.empty()) return base::Digest();
  return base::Digest::Parse(text);
}

}  // namespace

void ToProto(const BuildEvent& event, v1::BuildEvent* out) {
  out->set_kind(static_cast<v1::EventKind>(static_cast<int>(event.kind)));
  out->set_vertex(event.vertex);
  out->set_name(event.name);
  out->set_index(event.index);
  out->set_time_unix_nanos(event.time_unix_nanos);
  out->set_worker(event.worker);
  out->set_stream(event.stream);
  out->set_data(event.data);
  out->set_current(event.current);
  out->set_total(event.total);
  out->set_cached(event.cached);
  out->set_error(event.error);
  out->set_rule(event.rule);
  out->set_url(event.url);
  out->set_description(event.description);
  out->set_message(event.message);
  out->set_file(event.file);
  out->set_line(event.line);
}

BuildEvent FromProto(const v1::BuildEvent& event) {
  BuildEvent out;
  int kind = static_cast<int>(event.kind());
  out.kind = (kind >= 0 && kind <= static_cast<int>(BuildEventKind::kWarning))
                 ? static_cast<BuildEventKind>(kind)
                 : BuildEventKind::kProgress;
  out.vertex = event.vertex();
  out.name = event.name();
  out.index = event.index();
  out.time_unix_nanos = event.time_unix_nanos();
  out.worker = event.worker();
  out.stream = event.stream();
  out.data = event.data();
  out.current = event.current();
  out.total = event.total();
  out.cached = event.cached();
  out.error = event.error();
  out.rule = event.rule();
  out.url = event.url();
  out.description = event.description();
  out.message = event.message();
  out.file = event.file();
  out.line = event.line();
  return out;
}

namespace {

void ToProto(const remotecache::CacheSpecText& spec, v1::Export* out) {
  out->set_type(spec.type);
  for (const auto& [key, value] : spec.attrs) (*out->mutable_attrs())[key] = value;
}

remotecache::CacheSpecText FromProto(const v1::Export& e) {
  remotecache::CacheSpecText spec;
  spec.type = e.type();
  for (const auto& [key, value] : e.attrs()) spec.attrs[key] = value;
  return spec;
}

}  // namespace

void ToProto(const BuildRequest& request, v1::SolveRequest* out) {
  out->set_frontend("dockerfile.v0");
  out->set_context_dir(request.context_dir);
  out->set_dockerfile_dir(request.dockerfile_dir);
  out->set_dockerfile_name(request.dockerfile_name);
  out->set_target(request.target);
  for (const auto& [key, value] : request.build_args) (*out->mutable_build_args())[key] = value;
  for (const Output& output : request.exports) {
    ExportSpec spec = ToExportSpec(output);
    v1::Export* e = out->add_exports();
    e->set_type(spec.type);
    for (const auto& [key, value] : spec.attrs) (*e->mutable_attrs())[key] = value;
  }
  out->set_no_cache(request.no_cache);
  out->set_max_parallelism(static_cast<uint32_t>(request.max_parallelism));
  out->set_network(request.network);
  for (const std::string& e : request.entitlements) out->add_entitlements(e);
  out->set_platform(request.platform);
  for (const auto& [id, path] : request.secrets) (*out->mutable_secrets())[id] = path;
  out->set_check_only(request.check_only);
  out->set_pull(request.pull);
  out->set_registries_only(request.registries_only);
  for (const auto& spec : request.cache_exports)
    ToProto(remotecache::ToText(spec), out->add_cache_exports());
  for (const auto& spec : request.cache_imports)
    ToProto(remotecache::ToText(spec), out->add_cache_imports());
  ToProto(request.credentials, out->mutable_credentials());
}

absl::StatusOr<BuildRequest> FromProto(const v1::SolveRequest& request) {
  BuildRequest out;
  out.context_dir = request.context_dir();
  out.dockerfile_dir = request.dockerfile_dir();
  if (!request.dockerfile_name().empty()) out.dockerfile_name = request.dockerfile_name();
  out.target = request.target();
  for (const auto& [key, value] : request.build_args()) out.build_args[key] = value;
  for (const v1::Export& e : request.exports()) {
    ExportSpec spec;
    spec.type = e.type();
    for (const auto& [key, value] : e.attrs()) spec.attrs[key] = value;
    absl::StatusOr<Output> output = ParseOutput(spec);
    if (!output.ok()) return output.status();
    out.exports.push_back(*std::move(output));
  }
  out.no_cache = request.no_cache();
  out.max_parallelism = request.max_parallelism();
  out.network = request.network();
  for (const std::string& e : request.entitlements()) out.entitlements.push_back(e);
  out.platform = request.platform();
  for (const auto& [id, path] : request.secrets()) out.secrets[id] = path;
  out.check_only = request.check_only();
  out.pull = request.pull();
  out.registries_only = request.registries_only();
  // Parsed here, before any step runs: a bad --export-cache fails the Solve at once.
  for (const v1::Export& e : request.cache_exports()) {
    absl::StatusOr<remotecache::CacheExport> spec = remotecache::ParseCacheExport(FromProto(e));
    if (!spec.ok()) return spec.status();
    out.cache_exports.push_back(*std::move(spec));
  }
  for (const v1::Export& e : request.cache_imports()) {
    absl::StatusOr<remotecache::CacheImport> spec = remotecache::ParseCacheImport(FromProto(e));
    if (!spec.ok()) return spec.status();
    out.cache_imports.push_back(*std::move(spec));
  }
  out.credentials = FromProto(request.credentials());
  return out;
}

void ToProto(const BuildResult& result, v1::SolveResult* out) {
  out->set_manifest_digest(result.manifest_digest.str());
  out->set_config_digest(result.config_digest.str());
  out->set_image_size_bytes(result.image_size_bytes);
  out->set_steps_total(result.steps_total);
  out->set_steps_cached(result.steps_cached);
  for (const StepTiming& step : result.steps) {
    v1::StepTiming* s = out->add_steps();
    s->set_vertex(step.vertex);
    s->set_name(step.name);
    s->set_cached(step.cached);
    s->set_started_unix_nanos(step.started_unix_nanos);
    s->set_completed_unix_nanos(step.completed_unix_nanos);
  }
  for (const std::string& r : result.repositories) out->add_repositories(r);
}

absl::StatusOr<BuildResult> FromProto(const v1::SolveResult& result) {
  BuildResult out;
  auto manifest = ParseOptionalDigest(result.manifest_digest());
  if (!manifest.ok()) return manifest.status();
  auto config = ParseOptionalDigest(result.config_digest());
  if (!config.ok()) return config.status();
  out.manifest_digest = *manifest;
  out.config_digest = *config;
  out.image_size_bytes = result.image_size_bytes();
  out.steps_total = result.steps_total();
  out.steps_cached = result.steps_cached();
  for (const v1::StepTiming& s : result.steps()) {
    out.steps.push_back(StepTiming{s.vertex(), s.name(), s.cached(), s.started_unix_nanos(),
                                   s.completed_unix_nanos()});
  }
  out.repositories.assign(result.repositories().begin(), result.repositories().end());
  return out;
}

void ToProto(const UsageRecord& record, v1::UsageRecord* out) {
  out->set_id(record.id);
  out->set_kind(record.kind);
  out->set_description(record.description);
  out->set_size_bytes(record.size_bytes);
  out->set_last_used_unix(record.last_used_unix);
  out->set_shared(record.shared);
  out->set_in_use(record.in_use);
}

UsageRecord FromProto(const v1::UsageRecord& record) {
  return UsageRecord{record.id(),         record.kind(),           record.description(),
                     record.size_bytes(), record.last_used_unix(), record.shared(),
                     record.in_use()};
}

void ToProto(const ImageSummary& image, v1::ImageSummary* out) {
  out->set_ref(image.ref);
  out->set_manifest_digest(image.manifest_digest.str());
  out->set_size_bytes(image.size_bytes);
  out->set_created_unix(image.created_unix);
}

absl::StatusOr<ImageSummary> FromProto(const v1::ImageSummary& image) {
  auto digest = ParseOptionalDigest(image.manifest_digest());
  if (!digest.ok()) return digest.status();
  return ImageSummary{image.ref(), *digest, image.size_bytes(), image.created_unix()};
}

void ToProto(const PruneOptions& options, v1::PruneRequest* out) {
  out->set_all(options.all);
  out->set_keep_storage_bytes(options.keep_storage_bytes);
  out->set_keep_duration_seconds(options.keep_duration == absl::InfiniteDuration()
                                     ? -1
                                     : absl::ToInt64Seconds(options.keep_duration));
}

PruneOptions FromProto(const v1::PruneRequest& request) {
  PruneOptions out;
  out.all = request.all();
  out.keep_storage_bytes = request.keep_storage_bytes() < 0 ? -1 : request.keep_storage_bytes();
  out.keep_duration = request.keep_duration_seconds() < 0
                          ? absl::InfiniteDuration()
                          : absl::Seconds(request.keep_duration_seconds());
  return out;
}

grpc::Status ToGrpc(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(static_cast<int>(status.code())),
                      std::string(status.message()));
}

absl::Status FromGrpc(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(static_cast<int>(status.error_code())),
                      status.error_message());
}

}  // namespace kiln::engine::daemon
