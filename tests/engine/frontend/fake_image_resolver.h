// A fake ImageResolver for frontend tests: knows golang:1.19 and busybox:1.35 (plus what a
// test adds) and returns NotFound for anything else.
#ifndef KILN_TESTS_ENGINE_FRONTEND_FAKE_IMAGE_RESOLVER_H_
#define KILN_TESTS_ENGINE_FRONTEND_FAKE_IMAGE_RESOLVER_H_

#include <map>
#include <string>

#include "absl/strings/str_cat.h"
#include "engine/frontend/image_resolver.h"
#include "engine/frontend/lower.h"

namespace kiln::engine {

// Knows a fixed set of images; NotFound for anything else.
class FakeImageResolver : public ImageResolver {
 public:
  FakeImageResolver() {
    oci::ImageConfig go;
    go.env = {"PATH=/usr/local/go/bin:/usr/bin:/bin", "GOPATH=/go"};
    go.working_dir = "/go";
    Put("golang:1.19", go);
    oci::ImageConfig bb;
    bb.cmd = std::vector<std::string>{"sh"};
    Put("busybox:1.35", bb);
  }
  void Put(const std::string& ref, oci::ImageConfig config) {
    ResolvedImage img;
    img.ref = "docker.io/library/" + ref;
    img.manifest_digest = base::Digest::Of("manifest " + ref);
    img.config_digest = base::Digest::Of("config " + ref);
    img.config = std::move(config);
    images_[ref] = std::move(img);
  }
  absl::StatusOr<ResolvedImage> Resolve(std::string_view ref, std::string_view) override {
    ++calls;
    auto it = images_.find(std::string(ref));
    if (it == images_.end()) {
      return absl::NotFoundError(absl::StrCat("resolve image '", std::string(ref), "': not in the store"));
    }
    return it->second;
  }
  int calls = 0;

 private:
  std::map<std::string, ResolvedImage> images_;
};

// Lowers `df` with a shared FakeImageResolver unless `opt` names another resolver.
inline absl::StatusOr<LoweredBuild> Lower(std::string_view df, LowerOptions opt = {}) {
  static FakeImageResolver* resolver = new FakeImageResolver();
  if (opt.resolver == nullptr) opt.resolver = resolver;
  return LowerDockerfileText(df, opt);
}

}  // namespace kiln::engine

#endif  // KILN_TESTS_ENGINE_FRONTEND_FAKE_IMAGE_RESOLVER_H_
