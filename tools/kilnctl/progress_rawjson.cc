// rawjson progress: one JSON object per event and one final {"kind":"result"} line.
#include <cstdio>

#include "absl/synchronization/mutex.h"
#include "nlohmann/json.hpp"
#include "tools/kilnctl/progress.h"

namespace kiln::tools {
namespace {

std::string Dump(const nlohmann::json& j) {
  try {
    return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  } catch (const std::exception& e) {
    return std::string("{\"kind\":\"error\",\"error\":\"json: ") + e.what() + "\"}";
  }
}

class RawJsonProgress : public ProgressWriter {
 public:
  explicit RawJsonProgress(FILE* out) : out_(out) {}

  void OnEvent(const engine::BuildEvent& event) override {
    nlohmann::json j = {{"kind", engine::BuildEventKindName(event.kind)},
                        {"vertex", event.vertex},
                        {"index", event.index},
                        {"name", event.name},
                        {"time_unix_nanos", event.time_unix_nanos},
                        {"worker", event.worker}};
    using K = engine::BuildEventKind;
    if (event.kind == K::kLog) {
      j["stream"] = event.stream;
      j["data"] = event.data;
    }
    if (event.kind == K::kProgress) {
      j["current"] = event.current;
      j["total"] = event.total;
    }
    if (event.kind == K::kCompleted) j["cached"] = event.cached;
    if (event.kind == K::kError) j["error"] = event.error;
    if (event.kind == K::kWarning) {
      j["rule"] = event.rule;
      j["message"] = event.message;
      j["description"] = event.description;
      j["url"] = event.url;
      j["file"] = event.file;
      j["line"] = event.line;
    }
    Write(j);
  }

  void Finish(const engine::BuildResult* result, const absl::Status& status) override {
    nlohmann::json j = {{"kind", "result"}, {"ok", status.ok()}};
    if (!status.ok()) j["error"] = std::string(status.message());
    if (result != nullptr) {
      j["manifest_digest"] = result->manifest_digest.str();
      j["config_digest"] = result->config_digest.str();
      j["steps_total"] = result->steps_total;
      j["steps_cached"] = result->steps_cached;
    }
    Write(j);
  }

 private:
  void Write(const nlohmann::json& j) {
    std::string line = Dump(j);
    absl::MutexLock lock(&mu_);
    std::fprintf(out_, "%s\n", line.c_str());
    std::fflush(out_);
  }

  FILE* const out_;
  absl::Mutex mu_;
};

}  // namespace

std::unique_ptr<ProgressWriter> MakeRawJsonProgress(FILE* out) {
  return std::make_unique<RawJsonProgress>(out);
}

}  // namespace kiln::tools
