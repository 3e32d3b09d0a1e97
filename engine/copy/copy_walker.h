// Internal: the recursive part of CopyFiles -- copies one entry or a directory's contents
// from a source directory fd to a destination directory fd, with CopyOptions' ownership,
// mode, exclude and include rules. Never follows a symlink inside the copied tree.
#ifndef KILN_ENGINE_COPY_COPY_WALKER_H_
#define KILN_ENGINE_COPY_COPY_WALKER_H_

#include <sys/stat.h>

#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "base/unique_fd.h"
#include "engine/copy/copy.h"
#include "engine/copy/copy_pool.h"
#include "engine/copy/copy_selection.h"

namespace kiln::engine::internal {

class CopyWalker {
 public:
  explicit CopyWalker(const CopyOptions& opts) : opts_(opts), selection_(opts) {}
  ~CopyWalker();  // waits for file copies still in flight (after an error: drops them)

  // Waits for every file copy handed to worker threads; the first error. Call before using
  // the copied tree or stats().
  absl::Status Finish();

  // Starts a top-level source: `src_rel` (relative to the source root) is what
  // exclude_in_source / include paths are relative to.
  void BeginSource(const std::string& src_rel) { base_ = src_rel; }

  // Copies the entry `src_name` of directory `src_dir` to `dst_dir`/`name`, as `decision`
  // (the selection's) says: a lazy directory is created only if something below is copied.
  absl::Status CopyEntry(int src_dir, const std::string& src_name, const std::string& src_rel,
                         int dst_dir, const std::string& name, const std::string& dst_rel,
                         CopySelection::Decision decision = {true, false, true});

  // Copies the contents of `src_dir` into `dst_dir` (-1: the innermost lazy directory),
  // taking what the selection takes. `selected`: the directory itself was selected by
  // `include` (or there is none), so everything below is.
  absl::Status CopyDirContents(int src_dir, const std::string& src_rel, int dst_dir,
                               const std::string& dst_rel, bool selected);

  // Copies regular file `src_fd` (with stat `st`) to `dst_dir`/`name`, before returning.
  absl::Status CopyRegular(int src_fd, const struct stat& st, int dst_dir, const std::string& name,
                           const std::string& rel);

  const CopySelection& selection() const { return selection_; }

  CopyStats& stats() { return stats_; }

 private:
  // A directory on the way to selected entries (COPY --parents), created on first use.
  struct Pending {
    int parent_fd = -1;  // the real parent, or -1: the previous Pending's `out`
    std::string name, rel;
    struct stat st;
    bool created = false;
    base::UniqueFd out;
  };

  uid_t UidFor(const struct stat& st) const;
  gid_t GidFor(const struct stat& st) const;
  mode_t ModeFor(const struct stat& st) const;
  absl::Status CopyXattrs(int src_fd, int dst_fd, const std::string& rel) const;
  absl::Status FinishMeta(int dst_fd, const struct stat& st, const std::string& rel) const;
  // Creates `dst_dir`/`name` (replacing a non-directory there), or links it to an earlier
  // copy of the same multiply-linked source. Returns an invalid fd when it linked.
  absl::StatusOr<base::UniqueFd> CreateRegular(const struct stat& st, int dst_dir,
                                               const std::string& name, const std::string& rel);
  // Contents, xattrs and metadata of a created file. Thread-safe.
  absl::Status FillRegular(int src_fd, int out_fd, const struct stat& st, const std::string& rel,
                           int64_t* bytes) const;
  // Like CopyRegular, but may finish the copy on a worker thread (it owns `in`).
  absl::Status CopyRegularOwned(base::UniqueFd in, const struct stat& st, int dst_dir,
                                const std::string& name, const std::string& rel);
  absl::Status ClearTarget(int dst_dir, const std::string& name, bool want_dir,
                           const std::string& rel, bool* exists_as_dir);
  absl::Status CopySymlink(int src_dir, const std::string& src_name, const struct stat& st,
                           int dst_dir, const std::string& name, const std::string& rel);
  absl::Status CopySpecial(const struct stat& st, int dst_dir, const std::string& name,
                           const std::string& rel);
  // `*created`: the directory is new (so it is empty: no entry there needs replacing).
  absl::StatusOr<base::UniqueFd> MakeOrMergeDir(int dst_dir, const std::string& name,
                                                const std::string& rel, bool* created = nullptr);
  // `dst_dir`, or (when -1) the innermost Pending directory, created with its parents.
  absl::StatusOr<int> Materialize(int dst_dir);
  absl::Status CopyLazyDir(int src_dir, const std::string& src_name, const std::string& src_rel,
                           const struct stat& st, int dst_dir, const std::string& dst_rel,
                           bool selected);

  const CopyOptions& opts_;
  const CopySelection selection_;
  CopyStats stats_;
  std::string base_;
  std::vector<Pending> pending_;
  // (dev, ino) of multiply-linked source files -> O_PATH fd of their first copy.
  std::map<std::pair<dev_t, ino_t>, base::UniqueFd> links_;
  // Destination directory fds this walk created and is filling (known empty at creation).
  absl::flat_hash_set<int> fresh_dirs_;
  // copy_file_range works between these trees (cleared at the first EXDEV/EINVAL/...).
  mutable std::atomic<bool> use_cfr_{true};
  // Files after the first kInlineFiles are finished on the pool, started on first use.
  int regular_files_ = 0;
  std::unique_ptr<CopyPool> pool_;
  std::atomic<int64_t> async_bytes_{0};
};

}  // namespace kiln::engine::internal

#endif  // KILN_ENGINE_COPY_COPY_WALKER_H_
