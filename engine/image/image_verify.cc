// ImageStore::Verify (see image_store.h): refs against their manifests, configs and layers.
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/status.h"
#include "engine/image/image_store.h"
#include "engine/oci/manifest.h"
#include "engine/oci/media_types.h"

namespace kiln::engine::image {
namespace {

// What is wrong with the graph `target` reaches ("" if nothing).
std::string CheckGraph(cache::ContentStore& content, const oci::Descriptor& target) {
  std::vector<std::pair<oci::Descriptor, std::string>> pending = {{target, "its target"}};
  while (!pending.empty()) {
    auto [d, role] = std::move(pending.back());
    pending.pop_back();
    if (!content.Has(d.digest)) {
      return absl::StrCat(role, " ", d.digest.str(), " is not in the content store");
    }
    bool index = oci::IsIndexMediaType(d.media_type);
    if (!index && !oci::IsManifestMediaType(d.media_type)) continue;
    absl::StatusOr<std::string> json = content.ReadAll(d.digest);
    if (!json.ok())
      return absl::StrCat("read ", role, " ", d.digest.str(), ": ", json.status().message());
    if (index) {
      absl::StatusOr<oci::Index> i = oci::ParseIndex(*json);
      if (!i.ok()) return absl::StrCat(role, " ", d.digest.str(), ": ", i.status().message());
      for (const oci::Descriptor& m : i->manifests) pending.emplace_back(m, "manifest");
      continue;
    }
    absl::StatusOr<oci::Manifest> m = oci::ParseManifest(*json);
    if (!m.ok()) return absl::StrCat(role, " ", d.digest.str(), ": ", m.status().message());
    pending.emplace_back(m->config, "config");
    for (const oci::Descriptor& l : m->layers) pending.emplace_back(l, "layer");
  }
  return "";
}

}  // namespace

absl::StatusOr<cache::VerifyOutcome> ImageStore::Verify(bool repair) {
  KILN_ASSIGN_OR_RETURN(std::vector<ImageRecord> records, List());
  cache::VerifyOutcome out;
  for (const ImageRecord& r : records) {
    ++out.checked;
    std::string problem = CheckGraph(*content_, r.target);
    if (problem.empty()) continue;
    cache::VerifyProblem p{"image", r.ref, problem,
                           "FROM, run, push and export of this image (removed by repair)"};
    if (repair) {
      // Only if the ref still points where it was checked (a pull may have replaced it).
      absl::StatusOr<ImageRecord> now = Get(r.ref);
      if (now.ok() && now->target.digest == r.target.digest) {
        absl::Status s = Remove(r.ref);
        p.repaired = s.ok() || absl::IsNotFound(s);
        if (!p.repaired) absl::StrAppend(&p.problem, "; remove failed: ", s.message());
      } else {
        p.repaired = true;  // replaced or removed meanwhile
      }
    }
    out.problems.push_back(std::move(p));
  }
  return out;
}

}  // namespace kiln::engine::image
