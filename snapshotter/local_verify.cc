// LocalSnapshotter::Verify (see snapshotter.h): records against the directories on disk.
#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/status.h"
#include "snapshotter/local_snapshotter.h"
#include "snapshotter/tree_copy.h"

namespace kiln::snapshotter::internal {
namespace {

// Whether `rel` (below the snapshots dir) is a directory, not following symlinks.
bool IsDirAt(int dir, const std::string& rel) {
  struct stat st;
  return ::fstatat(dir, rel.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
}

// What is wrong with one record on its own ("" if nothing).
std::string CheckRecord(int dir, const SnapshotRecord& r,
                        const absl::flat_hash_map<std::string, const SnapshotRecord*>& by_key) {
  std::string id = absl::StrCat(r.id);
  if (!IsDirAt(dir, id)) return absl::StrCat("its directory 'snapshots/", id, "' is missing");
  if (!IsDirAt(dir, id + "/fs")) {
    return absl::StrCat("its directory 'snapshots/", id, "/fs' is missing");
  }
  if (r.info.kind == Kind::kCommitted) {
    for (const std::string& lower : r.lowers) {
      if (!IsDirAt(dir, lower)) {
        return absl::StrCat("the layer directory 'snapshots/", lower, "' it stacks is missing");
      }
    }
  }
  if (!r.info.parent.empty()) {
    auto it = by_key.find(r.info.parent);
    if (it == by_key.end()) return absl::StrCat("its parent '", r.info.parent, "' does not exist");
    if (it->second->info.kind != Kind::kCommitted) {
      return absl::StrCat("its parent '", r.info.parent, "' is not committed");
    }
  }
  return "";
}

// `key` and every snapshot stacked on it, children before parents.
std::vector<std::string> WithDescendants(
    const std::string& key,
    const absl::flat_hash_map<std::string, std::vector<std::string>>& kids) {
  std::vector<std::string> order;
  std::vector<std::pair<std::string, bool>> stack = {{key, false}};
  absl::flat_hash_set<std::string> seen;
  while (!stack.empty()) {
    auto [k, expanded] = stack.back();
    stack.pop_back();
    if (expanded) {
      order.push_back(k);
      continue;
    }
    if (!seen.insert(k).second) continue;
    stack.emplace_back(k, true);
    if (auto it = kids.find(k); it != kids.end()) {
      for (const std::string& c : it->second) stack.emplace_back(c, false);
    }
  }
  return order;
}

std::string Affects(const std::vector<std::string>& chain) {
  size_t n = chain.size() - 1;  // the last one is the snapshot itself
  if (n == 0) return "the cache records that name it";
  std::vector<std::string> shown(chain.begin(), chain.begin() + std::min<size_t>(n, 5));
  return absl::StrCat("the cache records that name it or the ", n,
                      " snapshot(s) stacked on it: ", absl::StrJoin(shown, ", "),
                      n > 5 ? ", ..." : "");
}

}  // namespace

absl::Status LocalSnapshotter::DropVanished(
    VerifyOutcome* out, std::vector<std::string>* broken,
    const absl::flat_hash_map<std::string, const SnapshotRecord*>& checked) {
  if (out->problems.empty()) return absl::OkStatus();
  KILN_ASSIGN_OR_RETURN(MetadataStore::Txn txn, meta_->Begin(false));
  absl::flat_hash_set<std::string> gone;
  for (const VerifyProblem& p : out->problems) {
    KILN_ASSIGN_OR_RETURN(std::optional<SnapshotRecord> now, txn.Get(p.key));
    auto it = checked.find(p.key);
    if (!now || it == checked.end() || now->id != it->second->id) gone.insert(p.key);
  }
  std::erase_if(out->problems, [&](const VerifyProblem& p) { return gone.contains(p.key); });
  std::erase_if(*broken, [&](const std::string& k) { return gone.contains(k); });
  return absl::OkStatus();
}

absl::Status LocalSnapshotter::FixChildCounts(
    const std::vector<std::pair<std::string, uint32_t>>& fixes) {
  absl::MutexLock lock(&mu_);
  KILN_ASSIGN_OR_RETURN(MetadataStore::Txn txn, meta_->Begin(true));
  // Recount under the write transaction: builds may have added children since the check.
  absl::flat_hash_map<std::string, uint32_t> counts;
  KILN_RETURN_IF_ERROR(txn.ForEach([&](const SnapshotRecord& r) {
    if (!r.info.parent.empty()) ++counts[r.info.parent];
    return absl::OkStatus();
  }));
  for (const auto& [key, unused] : fixes) {
    KILN_ASSIGN_OR_RETURN(std::optional<SnapshotRecord> r, txn.Get(key));
    if (!r) continue;
    r->children = counts.contains(key) ? counts[key] : 0;
    KILN_RETURN_IF_ERROR(txn.Put(*r));
  }
  return txn.Commit();
}

absl::StatusOr<VerifyOutcome> LocalSnapshotter::Verify(bool repair) {
  std::vector<SnapshotRecord> records;
  absl::flat_hash_set<std::string> busy;
  {
    absl::MutexLock lock(&mu_);
    busy = busy_;
    KILN_ASSIGN_OR_RETURN(MetadataStore::Txn txn, meta_->Begin(false));
    KILN_RETURN_IF_ERROR(txn.ForEach([&](const SnapshotRecord& r) {
      records.push_back(r);
      return absl::OkStatus();
    }));
  }
  KILN_ASSIGN_OR_RETURN(base::UniqueFd dir, OpenDir(root_ + "/snapshots"));
  absl::flat_hash_map<std::string, const SnapshotRecord*> by_key;
  absl::flat_hash_map<std::string, std::vector<std::string>> kids;
  for (const SnapshotRecord& r : records) {
    by_key.emplace(r.info.name, &r);
    if (!r.info.parent.empty()) kids[r.info.parent].push_back(r.info.name);
  }
  VerifyOutcome out;
  std::vector<std::string> broken;
  std::vector<std::pair<std::string, uint32_t>> count_fixes;
  for (const SnapshotRecord& r : records) {
    if (busy.contains(r.info.name)) continue;
    ++out.checked;
    std::string problem = CheckRecord(dir.get(), r, by_key);
    if (!problem.empty()) {
      std::vector<std::string> chain = WithDescendants(r.info.name, kids);
      out.problems.push_back(VerifyProblem{r.info.name, problem, Affects(chain)});
      broken.push_back(r.info.name);
      continue;
    }
    auto it = kids.find(r.info.name);
    uint32_t want = it == kids.end() ? 0 : static_cast<uint32_t>(it->second.size());
    if (r.children != want) {
      out.problems.push_back(VerifyProblem{
          r.info.name,
          absl::StrCat("its record counts ", r.children, " children, ", want, " exist"),
          "prune (it may never remove this snapshot, or remove it under a child)"});
      count_fixes.emplace_back(r.info.name, want);
    }
  }
  // A snapshot removed meanwhile (a build dropping its active snapshot deletes the record,
  // then the dir) is not a problem: keep only those whose record is still the one checked.
  KILN_RETURN_IF_ERROR(DropVanished(&out, &broken, by_key));
  if (!repair) return out;
  if (!count_fixes.empty()) {
    absl::Status s = FixChildCounts(count_fixes);
    for (VerifyProblem& p : out.problems) {
      if (std::any_of(count_fixes.begin(), count_fixes.end(),
                      [&](const auto& f) { return f.first == p.key; })) {
        p.repaired = s.ok();
      }
    }
  }
  absl::flat_hash_set<std::string> removed;
  absl::flat_hash_map<std::string, std::string> failed;
  for (const std::string& key : broken) {
    for (const std::string& k : WithDescendants(key, kids)) {
      if (removed.contains(k) || failed.contains(k)) continue;
      absl::Status s = Remove(k);
      if (s.ok() || absl::IsNotFound(s)) {
        removed.insert(k);
      } else {
        failed.emplace(k, std::string(s.message()));
      }
    }
  }
  for (VerifyProblem& p : out.problems) {
    if (removed.contains(p.key)) p.repaired = true;
    if (auto it = failed.find(p.key); it != failed.end()) {
      absl::StrAppend(&p.problem, "; not removed: ", it->second);
    }
  }
  return out;
}

}  // namespace kiln::snapshotter::internal
