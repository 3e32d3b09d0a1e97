#include "cache/verify.h"

#include <unistd.h>

#include <cerrno>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/digest.h"
#include "base/status.h"
#include "base/unique_fd.h"

namespace kiln::cache {
namespace {

struct BlobCheck {
  base::Digest actual;
  int64_t bytes = 0;
};

// Hashes the blob's stored bytes. NotFound when it went meanwhile (GC).
absl::StatusOr<BlobCheck> HashBlob(ContentStore& store, const base::Digest& digest) {
  KILN_ASSIGN_OR_RETURN(int raw, store.OpenRead(digest));
  base::UniqueFd fd(raw);
  base::Sha256 hasher;
  BlobCheck out;
  char buf[1 << 16];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return base::ErrnoError(absl::StrCat("read blob '", digest.str(), "'"));
    if (n == 0) break;
    hasher.Update(buf, static_cast<size_t>(n));
    out.bytes += n;
  }
  out.actual = hasher.Finish();
  return out;
}

}  // namespace

absl::StatusOr<VerifyOutcome> VerifyContentStore(ContentStore& store, LeaseManager* leases,
                                                 bool repair) {
  std::vector<BlobInfo> blobs;
  KILN_RETURN_IF_ERROR(store.Walk([&](const BlobInfo& info) { blobs.push_back(info); }));
  VerifyOutcome out;
  for (const BlobInfo& info : blobs) {
    absl::StatusOr<BlobCheck> check = HashBlob(store, info.digest);
    if (!check.ok() && absl::IsNotFound(check.status())) continue;  // deleted meanwhile
    ++out.checked;
    VerifyProblem p{"content", info.digest.str(), "",
                    "every image, layer memo and cache export "
                    "that names this blob"};
    if (!check.ok()) {
      p.problem = std::string(check.status().message());
    } else if (check->actual != info.digest) {
      p.problem = absl::StrCat("its ", check->bytes, " bytes hash to ", check->actual.str());
    } else if (check->bytes != info.size) {
      p.problem = absl::StrCat("read ", check->bytes, " bytes, the store says ", info.size);
    } else {
      continue;
    }
    if (repair) {
      std::optional<LeaseManager::RemovalGuard> guard;
      if (leases != nullptr) guard = leases->TryBeginRemoval(LeaseKind::kBlob, info.digest.str());
      if (leases == nullptr || guard.has_value()) {
        absl::Status s = store.Delete(info.digest);
        p.repaired = s.ok() || absl::IsNotFound(s);
        if (!p.repaired) absl::StrAppend(&p.problem, "; delete failed: ", s.message());
      } else {
        absl::StrAppend(&p.problem, "; held by a running build, not deleted");
      }
    }
    out.problems.push_back(std::move(p));
  }
  return out;
}

absl::StatusOr<VerifyOutcome> VerifyCacheIndex(
    CacheIndex& index, const std::function<bool(const std::string& snapshot)>& snapshot_ok,
    LeaseManager* leases, bool repair) {
  std::vector<std::pair<CacheKey, std::string>> records;
  KILN_RETURN_IF_ERROR(index.Walk([&](const CacheKey& key, const CacheRecord& record) {
    records.emplace_back(key, record.snapshot);
  }));
  VerifyOutcome out;
  for (const auto& [key, snapshot] : records) {
    ++out.checked;
    if (snapshot.empty() || snapshot_ok(snapshot)) continue;
    VerifyProblem p{"cache", key.str(),
                    absl::StrCat("names snapshot '", snapshot,
                                 "', which is not a committed "
                                 "snapshot"),
                    "the step with this cache key (a miss after repair)"};
    if (repair) {
      if (leases != nullptr && leases->IsSnapshotHeld(snapshot)) {
        absl::StrAppend(&p.problem, "; its snapshot is held by a running build, not deleted");
      } else {
        absl::Status s = index.Delete(key);
        p.repaired = s.ok() || absl::IsNotFound(s);
        if (!p.repaired) absl::StrAppend(&p.problem, "; delete failed: ", s.message());
      }
    }
    out.problems.push_back(std::move(p));
  }
  return out;
}

VerifyOutcome VerifyLeases(const LeaseManager& leases, int builds_running) {
  VerifyOutcome out;
  for (const auto& [item, count] : leases.Holds()) {
    ++out.checked;
    if (builds_running > 0) continue;
    bool snapshot = item.first == LeaseKind::kSnapshot;
    out.problems.push_back(
        VerifyProblem{"lease", item.second,
                      absl::StrCat(count, " hold(s) on this ", snapshot ? "snapshot" : "blob",
                                   " but no build is running (a leaked lease)"),
                      "prune never removes it until kilnd restarts"});
  }
  return out;
}

}  // namespace kiln::cache
