// FakeExecutor: an engine::Executor for engine tests that "runs" a RUN by applying a scripted
// change to the rootfs tree, reached through a TreeAccess (no process, namespace or mount).
// The command a script answers to is the last argv element: the script of the shell form
// ("/bin/sh -c <script>"), or the program of a one-word exec form. A command without a script
// fails the run with NotFound, so a test never passes by running nothing. Thread-safe.
#ifndef KILN_TESTS_FAKES_FAKE_EXECUTOR_H_
#define KILN_TESTS_FAKES_FAKE_EXECUTOR_H_

#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "engine/ops/executor.h"
#include "engine/ops/tree_access.h"

namespace kiln::engine::testing {

class FakeExecutor final : public Executor {
 public:
  // Changes the tree at `root_fd` (the run's rootfs) as the command would. `spec` is the run.
  using Script = std::function<absl::Status(int root_fd, const sandbox::Spec& spec)>;

  // `trees` is borrowed and must outlive the executor.
  explicit FakeExecutor(const TreeAccess* trees) : trees_(trees) {}

  // What `command` does: `script` (may be null: no change), its stdout, its exit code.
  void On(std::string command, Script script, std::string out = "", int exit_code = 0) {
    absl::MutexLock lock(&mu_);
    scripts_[std::move(command)] = Entry{std::move(script), std::move(out), exit_code};
  }

  absl::StatusOr<sandbox::Result> Run(const sandbox::Spec& spec) const override {
    if (spec.argv.empty()) return absl::InvalidArgumentError("fake run: empty argv");
    const std::string& command = spec.argv.back();
    Entry e;
    {
      absl::MutexLock lock(&mu_);
      auto it = scripts_.find(command);
      if (it == scripts_.end()) {
        return absl::NotFoundError(absl::StrCat("fake run: no script for '", command, "'"));
      }
      e = it->second;
      runs_.push_back(spec);
    }
    absl::StatusOr<Tree> tree = trees_->Open(spec.rootfs);
    if (!tree.ok()) return tree.status();
    if (e.script) {
      absl::Status s = e.script(tree->fd(), spec);
      if (!s.ok()) return s;
    }
    absl::Status closed = tree->Close();
    if (!closed.ok()) return closed;
    if (!e.out.empty() && spec.on_stdout) spec.on_stdout(e.out);
    sandbox::Result r;
    r.exit_code = e.exit_code;
    return r;
  }

  const sandbox::IdMapping* id_mapping() const override { return nullptr; }

  // How many times `command` ran.
  int Runs(const std::string& command) const {
    absl::MutexLock lock(&mu_);
    int n = 0;
    for (const sandbox::Spec& s : runs_) n += s.argv.back() == command ? 1 : 0;
    return n;
  }
  // Every run so far, in order.
  std::vector<sandbox::Spec> AllRuns() const {
    absl::MutexLock lock(&mu_);
    return runs_;
  }

 private:
  struct Entry {
    Script script;
    std::string out;
    int exit_code = 0;
  };

  const TreeAccess* trees_;
  mutable absl::Mutex mu_;
  std::map<std::string, Entry> scripts_ ABSL_GUARDED_BY(mu_);
  mutable std::vector<sandbox::Spec> runs_ ABSL_GUARDED_BY(mu_);
};

}  // namespace kiln::engine::testing

#endif  // KILN_TESTS_FAKES_FAKE_EXECUTOR_H_
