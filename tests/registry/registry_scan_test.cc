// RegistryScan (the registries-only pass) through the real frontend: ARGs expanded as the build
// expands them, named stages skipped, COPY --from and RUN --mount=from images included, pruned
// stages left out, and the pull policy deciding which images need a registry at all.
#include "engine/registry/registry_scan.h"

#include <map>
#include <string>

#include "engine/frontend/lower.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kiln::engine::registry {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

// The local store: the refs it holds (normalized) resolve, the rest are NotFound.
class LocalImages : public ImageResolver {
 public:
  explicit LocalImages(std::map<std::string, std::string> digests) : refs_(std::move(digests)) {}
  absl::StatusOr<ResolvedImage> Resolve(std::string_view ref, std::string_view) override {
    auto parsed = oci::NormalizeReference(ref);
    if (!parsed.ok()) return parsed.status();
    auto it = refs_.find(parsed->String());
    if (it == refs_.end()) return absl::NotFoundError("not here: " + parsed->String());
    return ResolvedImage{it->first, base::Digest::Of(it->second), base::Digest::Of(it->second), {}};
  }

 private:
  std::map<std::string, std::string> refs_;
};

constexpr char kDockerfile[] = R"(ARG REG=registry.invalid
ARG TAG=1
FROM ${REG}/team/base:${TAG} AS base
RUN true
FROM busybox:1.35 AS unused
RUN true
FROM base
COPY --from=127.0.0.1:5000/tools/copysrc:2 /x /x
RUN --mount=type=bind,from=quay.io/org/mounted:3,target=/m true
COPY --from=base /etc /etc
)";

std::vector<std::string> Scan(PullPolicy policy, const std::map<std::string, std::string>& local,
                              std::map<std::string, std::string> args = {}) {
  LocalImages store(local);
  RegistryScan scan(&store, policy);
  LowerOptions lo;
  lo.resolver = &scan;
  lo.build_args = std::move(args);
  auto lowered = LowerDockerfileText(kDockerfile, lo);
  EXPECT_TRUE(lowered.ok()) << lowered.status();
  return scan.repositories();
}

TEST(RegistryScanTest, NamesEveryMissingImageAfterArgExpansion) {
  EXPECT_THAT(Scan(PullPolicy::kMissing, {}, {{"REG", "127.0.0.1:5001"}}),
              ElementsAre("127.0.0.1:5000/tools/copysrc", "127.0.0.1:5001/team/base",
                          "quay.io/org/mounted"));
  // The ARG's default, and the unused stage's busybox is never looked at.
  EXPECT_THAT(Scan(PullPolicy::kMissing, {}),
              ElementsAre("127.0.0.1:5000/tools/copysrc", "quay.io/org/mounted",
                          "registry.invalid/team/base"));
}

TEST(RegistryScanTest, PolicyDecidesWhetherLocalImagesNeedTheRegistry) {
  std::map<std::string, std::string> local = {
      {"registry.invalid/team/base:1", "a"},
      {"127.0.0.1:5000/tools/copysrc:2", "b"},
      {"quay.io/org/mounted:3", "c"},
  };
  EXPECT_THAT(Scan(PullPolicy::kMissing, local), IsEmpty());
  EXPECT_THAT(Scan(PullPolicy::kAlways, local),
              ElementsAre("127.0.0.1:5000/tools/copysrc", "quay.io/org/mounted",
                          "registry.invalid/team/base"));
  EXPECT_THAT(Scan(PullPolicy::kNever, {}), IsEmpty());
}

}  // namespace
}  // namespace kiln::engine::registry
