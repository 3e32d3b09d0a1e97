// CopySelection: what a COPY reads, decided in one place. The copier (copy_walker), the
// content hasher (copy_hash, the cache key) and the persisted checksum cache
// (engine/copy/context_checksums) all take their sources and every per-entry decision from
// here, so a cache key always describes exactly the entries the copy writes.
//
// The rules (BuildKit's, through fsutil's walker and copy):
//   - Sources: wildcards expand inside the root (sorted); a wildcard match that the root
//     filter (`exclude`, the .dockerignore) leaves out does not exist; a source named without
//     a wildcard that it leaves out is NotFound.
//   - Below a copied directory, an entry is skipped when `exclude` (paths relative to the
//     source root) or `exclude_in_source` (paths relative to the copied source, --exclude)
//     leaves it out. A directory that is excluded itself but may hold entries a "!" exception
//     brings back is walked LAZILY: it is created (with its own metadata) only when something
//     below it is copied, and then only the directories on the way to it.
//   - `include` (COPY --parents): an entry it does not select is skipped, or walked lazily
//     when it is a directory that may contain selected entries; below a selected directory
//     everything is selected.
// Filters follow CopyOptions' contract: filter(rel, false) says whether `rel` itself is left
// out (whatever its type), filter(rel, true) whether directory `rel`'s whole subtree is.
// Thread-compatible: const methods may run concurrently; it borrows `opts`.
#ifndef KILN_ENGINE_COPY_COPY_SELECTION_H_
#define KILN_ENGINE_COPY_COPY_SELECTION_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/copy/copy.h"

namespace kiln::engine {

class CopySelection {
 public:
  // Borrows `opts`, which must outlive the selection.
  explicit CopySelection(const CopyOptions& opts) : opts_(opts) {}

  // The sources, relative to the root ("" for the root itself), wildcards expanded, in the
  // order the copy takes them; wildcard matches the root filter leaves out are dropped.
  // Errors: NotFound for a wildcard matching nothing (unless allow_empty_wildcard).
  absl::StatusOr<std::vector<std::string>> Sources(int root_fd) const;

  // For a source from Sources() with stat `st` (as the copy opens it): NotFound "copy: source
  // 'x' is excluded (.dockerignore)" when the root filter leaves it out, else OK.
  absl::Status CheckSource(const std::string& rel, const struct stat& st) const;

  // The decision for an entry below a copied source.
  struct Decision {
    bool take = false;      // false: skip the entry (and, for a directory, its subtree)
    bool lazy = false;      // directory only: create it only if something below is taken
    bool selected = false;  // `include` selected it or a parent (so all below is selected)
  };
  // `rel` is relative to the source root, `source` is the copied source it lies below (what
  // exclude_in_source and include paths are relative to); `parent_selected` is the parent's
  // Decision::selected (true for a source itself when there is no `include`).
  Decision Decide(const std::string& rel, const std::string& source, bool is_dir,
                  bool parent_selected) const;

  // True when any filter applies below a source whose `selected` is `parent_selected`: only
  // then must a walker stat entries to decide (else every entry is taken).
  bool Filtered(bool parent_selected) const {
    return opts_.exclude || opts_.exclude_in_source || (opts_.include && !parent_selected);
  }

  // The path of `rel` relative to `source` ("" when equal, `rel` when not below it).
  static std::string RelativeTo(const std::string& rel, const std::string& source);

 private:
  const CopyOptions& opts_;
};

}  // namespace kiln::engine

#endif  // KILN_ENGINE_COPY_COPY_SELECTION_H_
