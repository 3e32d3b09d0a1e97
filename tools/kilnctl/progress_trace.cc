#include "tools/kilnctl/progress_trace.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "base/fs.h"
#include "base/status.h"
#include "base/unique_fd.h"
#include "nlohmann/json.hpp"

namespace kiln::tools {
namespace {

std::string Dump(const nlohmann::json& j) {
  try {
    return j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace);
  } catch (const std::exception& e) {
    return "{}";
  }
}

const char* CacheStatus(StepState state) {
  switch (state) {
    case StepState::kCached: return "hit";
    case StepState::kError: return "error";
    case StepState::kRunning:
    case StepState::kDone: break;
  }
  return "miss";
}

std::string RfcTime(int64_t nanos) {
  return absl::FormatTime(absl::RFC3339_full, absl::FromUnixNanos(nanos), absl::UTCTimeZone());
}

}  // namespace

void TraceRecorder::OnEvent(const engine::BuildEvent& event) {
  absl::MutexLock lock(&mu_);
  if (first_nanos_ == 0 || (event.time_unix_nanos > 0 && event.time_unix_nanos < first_nanos_)) {
    first_nanos_ = event.time_unix_nanos;
  }
  if (event.kind == engine::BuildEventKind::kStarted && event.worker >= 0) {
    start_worker_[event.index] = event.worker;
  }
  table_.Apply(event);
}

std::string TraceRecorder::ToJson() const {
  absl::MutexLock lock(&mu_);
  nlohmann::json events = nlohmann::json::array();
  events.push_back({{"ph", "M"}, {"name", "process_name"}, {"pid", 1}, {"tid", 0},
                    {"args", {{"name", "kiln build"}}}});
  std::set<int> tids;
  for (const auto& [index, step] : table_.steps()) {
    auto started_on = start_worker_.find(index);
    int worker = started_on != start_worker_.end() ? started_on->second : step.worker;
    int tid = worker + 1;  // 0 = steps no worker ran (cached, scheduler)
    tids.insert(tid);
    int64_t end = step.ended_nanos > 0 ? step.ended_nanos : step.started_nanos;
    double ts = static_cast<double>(step.started_nanos - first_nanos_) / 1e3;
    double dur = std::max(1.0, static_cast<double>(end - step.started_nanos) / 1e3);
    events.push_back({{"ph", "X"},
                      {"name", absl::StrCat("#", index, " ", step.name)},
                      {"cat", step.state == StepState::kCached ? "cached" : "step"},
                      {"pid", 1},
                      {"tid", tid},
                      {"ts", ts},
                      {"dur", dur},
                      {"args",
                       {{"index", index},
                        {"vertex", step.vertex},
                        {"cache", CacheStatus(step.state)},
                        {"error", step.error}}}});
  }
  for (int tid : tids) {
    events.push_back({{"ph", "M"}, {"name", "thread_name"}, {"pid", 1}, {"tid", tid},
                      {"args", {{"name", tid == 0 ? std::string("cache / scheduler")
                                                  : absl::StrCat("worker ", tid - 1)}}}});
  }
  nlohmann::json doc = {{"traceEvents", events}, {"displayTimeUnit", "ms"}};
  return Dump(doc);
}

absl::Status TraceRecorder::Write(const std::string& path) const {
  return WriteFileAtomically(path, ToJson() + "\n");
}

std::string MetadataJson(const engine::BuildRequest& request, const engine::BuildResult& result,
                         const std::vector<engine::BuildEvent>& warnings) {
  nlohmann::json doc = nlohmann::json::object();
  if (!result.manifest_digest.empty()) doc["containerimage.digest"] = result.manifest_digest.str();
  if (!result.config_digest.empty()) {
    doc["containerimage.config.digest"] = result.config_digest.str();
  }
  std::vector<std::string> names;
  for (const engine::Output& output : request.exports) {
    engine::ExportSpec spec = engine::ToExportSpec(output);
    auto name = spec.attrs.find("name");
    if (name != spec.attrs.end()) names.push_back(name->second);
  }
  if (!names.empty()) doc["image.name"] = absl::StrJoin(names, ",");
  nlohmann::json steps = nlohmann::json::array();
  for (const engine::StepTiming& step : result.steps) {
    steps.push_back({{"vertex", step.vertex},
                     {"name", step.name},
                     {"cached", step.cached},
                     {"started", RfcTime(step.started_unix_nanos)},
                     {"completed", RfcTime(step.completed_unix_nanos)},
                     {"duration_seconds",
                      static_cast<double>(step.completed_unix_nanos - step.started_unix_nanos) /
                          1e9}});
  }
  doc["kiln.build.steps"] = steps;
  doc["kiln.build.steps_total"] = result.steps_total;
  doc["kiln.build.steps_cached"] = result.steps_cached;
  doc["kiln.build.image_size_bytes"] = result.image_size_bytes;
  nlohmann::json checks = nlohmann::json::array();
  for (const engine::BuildEvent& w : warnings) {
    checks.push_back({{"rule", w.rule},
                      {"message", w.message},
                      {"description", w.description},
                      {"url", w.url},
                      {"file", w.file},
                      {"line", w.line}});
  }
  doc["kiln.build.warnings"] = checks;
  return Dump(doc);
}

absl::Status WriteMetadataFile(const std::string& path, const engine::BuildRequest& request,
                               const engine::BuildResult& result,
                               const std::vector<engine::BuildEvent>& warnings) {
  return WriteFileAtomically(path, MetadataJson(request, result, warnings) + "\n");
}

absl::Status WriteFileAtomically(const std::string& path, const std::string& content) {
  return base::WriteFileAtomically(path, content);
}

}  // namespace kiln::tools
