#include "engine/core/event_bridge.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "engine/solver/vertex.h"

namespace kiln::engine {

void EventBridge::OnEvent(const solver::ProgressEvent& e) {
  BuildEvent out;
  {
    absl::MutexLock lock(&mu_);
    const std::string digest = e.vertex->digest().str();
    auto [it, inserted] = index_.try_emplace(digest, static_cast<int>(index_.size()) + 1);
    out.index = it->second;
    StepTiming& t = timings_[digest];
    t.vertex = digest;
    t.name = e.vertex->name();
    int64_t now = absl::ToUnixNanos(e.time);
    if (e.kind == solver::ProgressKind::kStarted) t.started_unix_nanos = now;
    if (e.kind == solver::ProgressKind::kCached) t.cached = true;
    if (e.kind == solver::ProgressKind::kCompleted || e.kind == solver::ProgressKind::kError) {
      t.completed_unix_nanos = now;
      if (e.kind == solver::ProgressKind::kCompleted) t.cached = t.cached || e.cached;
    }
  }
  if (!sink_) return;
  out.vertex = e.vertex->digest().str();
  out.name = e.vertex->name();
  out.time_unix_nanos = absl::ToUnixNanos(e.time);
  out.worker = e.worker;
  switch (e.kind) {
    case solver::ProgressKind::kStarted:
      out.kind = BuildEventKind::kStarted;
      break;
    case solver::ProgressKind::kCached:
      out.kind = BuildEventKind::kCached;
      break;
    case solver::ProgressKind::kLog:
      out.kind = BuildEventKind::kLog;
      out.stream = static_cast<int>(e.stream);
      out.data = e.data;
      break;
    case solver::ProgressKind::kProgress:
      out.kind = BuildEventKind::kProgress;
      out.current = e.current;
      out.total = e.total;
      break;
    case solver::ProgressKind::kCompleted:
      out.kind = BuildEventKind::kCompleted;
      out.cached = e.cached;
      break;
    case solver::ProgressKind::kError:
      out.kind = BuildEventKind::kError;
      out.error = std::string(e.status.message());
      break;
  }
  sink_(out);
}

void EventBridge::Note(const std::string& name, const std::vector<std::string>& lines) {
  if (!sink_ || lines.empty()) return;
  BuildEvent out;
  {
    absl::MutexLock lock(&mu_);
    out.index =
        index_.try_emplace("internal:" + name, static_cast<int>(index_.size()) + 1).first->second;
  }
  out.vertex = "internal:" + name;
  out.name = name;
  out.time_unix_nanos = absl::ToUnixNanos(absl::Now());
  out.kind = BuildEventKind::kStarted;
  sink_(out);
  out.kind = BuildEventKind::kLog;
  out.stream = 2;
  for (const std::string& l : lines) absl::StrAppend(&out.data, l, "\n");
  sink_(out);
  out.data.clear();
  out.kind = BuildEventKind::kCompleted;
  sink_(out);
}

void EventBridge::Warnings(const std::vector<CheckWarning>& checks) {
  if (!sink_) return;
  for (const CheckWarning& c : checks) {
    BuildEvent out;
    out.kind = BuildEventKind::kWarning;
    out.vertex = "internal:checks";
    out.name = c.Short();
    out.time_unix_nanos = absl::ToUnixNanos(absl::Now());
    out.rule = c.rule;
    out.url = c.url;
    out.description = c.description;
    out.message = c.message;
    out.file = c.file;
    out.line = c.line;
    sink_(out);
  }
}

std::vector<StepTiming> EventBridge::Timings() {
  absl::MutexLock lock(&mu_);
  std::vector<std::pair<int, StepTiming>> v;
  for (const auto& [d, t] : timings_) v.emplace_back(index_[d], t);
  std::sort(v.begin(), v.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<StepTiming> out;
  for (auto& [i, t] : v) out.push_back(std::move(t));
  return out;
}

}  // namespace kiln::engine
