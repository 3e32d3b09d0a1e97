// The snapshotter implementations the typed suites run against.
#ifndef KILN_TESTS_SNAPSHOTTER_IMPLS_H_
#define KILN_TESTS_SNAPSHOTTER_IMPLS_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "snapshotter/local_snapshotter.h"
#include "snapshotter/native_snapshotter.h"
#include "snapshotter/overlay_snapshotter.h"
#include "tests/fakes/in_memory_snapshotter.h"

namespace kiln::snapshotter::testing {

struct OverlayImpl {
  static constexpr const char* kName = "overlay";
  static absl::StatusOr<std::unique_ptr<Snapshotter>> Open(
      const std::string& root, const LocalSnapshotterOptions& options = {}) {
    auto s = OverlaySnapshotter::Open(root, options);
    if (!s.ok()) return s.status();
    return std::unique_ptr<Snapshotter>(std::move(*s));
  }
};

struct NativeImpl {
  static constexpr const char* kName = "native";
  static absl::StatusOr<std::unique_ptr<Snapshotter>> Open(
      const std::string& root, const LocalSnapshotterOptions& options = {}) {
    auto s = NativeSnapshotter::Open(root, options);
    if (!s.ok()) return s.status();
    return std::unique_ptr<Snapshotter>(std::move(*s));
  }
};

struct InMemoryImpl {
  static constexpr const char* kName = "in_memory";
  static absl::StatusOr<std::unique_ptr<Snapshotter>> Open(
      const std::string& /*root*/, const LocalSnapshotterOptions& /*options*/ = {}) {
    return std::unique_ptr<Snapshotter>(new InMemorySnapshotter());
  }
};

struct ImplName {
  template <typename T>
  static std::string GetName(int) {
    return T::kName;
  }
};

// Lower dirs of an overlay mount (0 for other types).
inline int LowerCount(const base::Mount& m) {
  int n = 0;
  for (const std::string& o : m.options) n += o.rfind("lowerdir+=", 0) == 0 ? 1 : 0;
  return n;
}

}  // namespace kiln::snapshotter::testing

#endif  // KILN_TESTS_SNAPSHOTTER_IMPLS_H_
