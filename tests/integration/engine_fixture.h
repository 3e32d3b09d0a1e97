// Test fixture for end-to-end builds through the real Engine: a fresh state root per suite,
// the base images from tools/images/build.sh imported, the shared examples as contexts.
#ifndef KILN_TESTS_INTEGRATION_ENGINE_FIXTURE_H_
#define KILN_TESTS_INTEGRATION_ENGINE_FIXTURE_H_

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "base/temp_dir.h"
#include "engine/core/engine.h"

namespace kiln::testing {

inline std::string SharedDir() {
  const char* s = std::getenv("KILN_SHARED_DIR");
  return s != nullptr ? s : "";
}

inline std::string ImagesDir() {
  const char* s = std::getenv("KILN_IMAGES_DIR");
  if (s != nullptr && *s != '\0') return s;
  return "/var/cache/kiln/images";
}

inline void WriteFile(const std::string& path, const std::string& content) {
  FILE* f = std::fopen(path.c_str(), "w");
  ASSERT_NE(f, nullptr) << path;
  std::fputs(content.c_str(), f);
  std::fclose(f);
}

inline std::string ReadFile(const std::string& path) {
  std::string out;
  FILE* f = std::fopen(path.c_str(), "r");
  if (f == nullptr) return out;
  char buf[65536];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
  std::fclose(f);
  return out;
}

// Copies a shared example into a fresh writable context dir.
inline std::string CopyExample(const std::string& from, const std::string& to) {
  std::string cmd = "cp -a '" + from + "/.' '" + to + "/'";
  EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
  return to;
}

inline bool Exists(const std::string& p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0;
}

// Collects events; thread-safe.
class EventLog {
 public:
  engine::BuildEventSink Sink() {
    return [this](const engine::BuildEvent& e) {
      absl::MutexLock lock(&mu_);
      events_.push_back(e);
    };
  }
  std::vector<engine::BuildEvent> events() {
    absl::MutexLock lock(&mu_);
    return events_;
  }
  // Names of steps that ran (completed, not from the cache).
  std::vector<std::string> Executed() {
    std::vector<std::string> out;
    for (const auto& e : events()) {
      if (e.kind == engine::BuildEventKind::kCompleted && !e.cached) out.push_back(e.name);
    }
    return out;
  }
  std::string Logs() {
    std::string out;
    for (const auto& e : events()) {
      if (e.kind == engine::BuildEventKind::kLog) out += e.data;
    }
    return out;
  }

 private:
  absl::Mutex mu_;
  std::vector<engine::BuildEvent> events_;
};

class EngineTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ASSERT_FALSE(SharedDir().empty()) << "KILN_SHARED_DIR is not set (ctest sets it)";
    for (const char* img : {"busybox-1.35", "golang-1.19"}) {
      ASSERT_TRUE(Exists(ImagesDir() + "/" + img + "/.kiln-complete"))
          << "base image " << img << " missing in " << ImagesDir()
          << ": run tools/images/build.sh (tools/test.sh does)";
    }
    auto root = base::TempDir::Create("kiln-e2e-");
    ASSERT_TRUE(root.ok()) << root.status();
    root_ = new base::TempDir(std::move(*root));
    engine::EngineOptions o;
    o.root = root_->path() + "/state";
    auto e = engine::Engine::Open(o);
    ASSERT_TRUE(e.ok()) << e.status();
    engine_ = e->release();
    for (auto [dir, name] : {std::pair{"busybox-1.35", "busybox:1.35"},
                             std::pair{"golang-1.19", "golang:1.19"}}) {
      auto refs = engine_->ImportImage(ImagesDir() + "/" + dir, name);
      ASSERT_TRUE(refs.ok()) << refs.status();
    }
  }
  static void TearDownTestSuite() {
    delete engine_;
    engine_ = nullptr;
    delete root_;
    root_ = nullptr;
  }

  static engine::BuildRequest Request(const std::string& context) {
    engine::BuildRequest r;
    r.context_dir = context;
    return r;
  }
  static std::string Example(const std::string& name) { return SharedDir() + "/examples/" + name; }

  // Runs `ref` and returns its stdout; the exit code goes to *code.
  static std::string Run(const std::string& ref, const std::vector<std::string>& args, int* code) {
    std::string out;
    engine::Engine::RunOptions o;
    o.args = args;
    o.timeout = absl::Seconds(120);
    o.on_stdout = [&](std::string_view s) { out.append(s); };
    o.on_stderr = [&](std::string_view s) { out.append(s); };
    auto rc = engine_->RunImage(ref, o);
    EXPECT_TRUE(rc.ok()) << rc.status();
    *code = rc.ok() ? *rc : -1;
    return out;
  }

  static base::TempDir* root_;
  static engine::Engine* engine_;
};

inline base::TempDir* EngineTest::root_ = nullptr;
inline engine::Engine* EngineTest::engine_ = nullptr;

}  // namespace kiln::testing

#endif  // KILN_TESTS_INTEGRATION_ENGINE_FIXTURE_H_
