// kilnctl debug graph: prints the build graph a Dockerfile lowers to.
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "cache/fs_content_store.h"
#include "engine/core/build_files.h"
#include "engine/frontend/dockerignore.h"
#include "engine/frontend/lower.h"
#include "engine/image/image_store.h"
#include "engine/image/store_resolver.h"
#include "tools/kilnctl/build_options.h"
#include "tools/kilnctl/command.h"

namespace kiln::tools {
namespace {

struct Options {
  std::string file = "Dockerfile";
  std::string context = ".";
  std::string target;
  std::vector<std::string> build_args;
  std::string format = "text";
  std::string root;  // a kilnd/engine state root: resolve FROM images in its image store
};

// The image store of the state root `root`, read as kilnd reads it. NotFound when `root` has
// no content or image store (nothing is created).
struct RootImages {
  std::unique_ptr<cache::ContentStore> content;
  std::unique_ptr<engine::image::ImageStore> images;
};

absl::StatusOr<RootImages> OpenRootImages(const std::string& root) {
  for (const char* sub : {"/content", "/images"}) {
    struct stat st;
    std::string dir = root + sub;
    if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
      return absl::NotFoundError(
          absl::StrCat("open state root '", root, "': no directory '", dir,
                       "', expected the --root of a kilnd that has images (kilnctl image import)"));
    }
  }
  RootImages out;
  absl::StatusOr<std::unique_ptr<cache::ContentStore>> content =
      cache::OpenFsContentStore(root + "/content");
  if (!content.ok()) return content.status();
  out.content = std::move(*content);
  absl::StatusOr<std::unique_ptr<engine::image::ImageStore>> images =
      engine::image::ImageStore::Open(root + "/images", out.content.get());
  if (!images.ok()) return images.status();
  out.images = std::move(*images);
  return out;
}

absl::StatusOr<std::string> ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("open '", path, "': cannot read file"));
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

absl::Status Run(const Options& o) {
  absl::StatusOr<std::string> text = ReadAll(o.file);
  if (!text.ok()) return text.status();
  engine::AnyImageResolver any_resolver;
  RootImages root_images;
  std::unique_ptr<engine::image::StoreImageResolver> store_resolver;
  engine::LowerOptions lo;
  lo.filename = o.file;
  lo.target = o.target;
  lo.resolver = &any_resolver;
  if (!o.root.empty()) {
    absl::StatusOr<RootImages> opened = OpenRootImages(o.root);
    if (!opened.ok()) return opened.status();
    root_images = std::move(*opened);
    store_resolver = std::make_unique<engine::image::StoreImageResolver>(root_images.images.get());
    lo.resolver = store_resolver.get();
  }
  for (const std::string& kv : o.build_args) {
    size_t eq = kv.find('=');
    if (eq == std::string::npos) {
      const char* v = std::getenv(kv.c_str());
      if (v != nullptr) lo.build_args[kv] = v;
      continue;
    }
    lo.build_args[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  if (absl::StatusOr<std::string> ig = ReadAll(o.context + "/.dockerignore"); ig.ok()) {
    lo.context_excludes = engine::ReadDockerignore(*ig);
  }
  // The local source's digest covers which directory it reads, as in a build of it; a
  // context that cannot be opened leaves it out (the graph is still shown).
  char cwd[4096];
  if (::getcwd(cwd, sizeof(cwd)) != nullptr) {
    absl::StatusOr<std::string> id = engine::ContextIdentity(Absolute(o.context, cwd));
    if (id.ok()) lo.context_id = std::move(*id);
  }
  absl::StatusOr<engine::LoweredBuild> b = engine::LowerDockerfileText(*text, lo);
  if (!b.ok()) return b.status();
  for (const std::string& w : b->warnings) std::fprintf(stderr, "warning: %s\n", w.c_str());
  for (const engine::CheckWarning& c : b->checks) {
    std::fprintf(stderr, "warning: %s\n", c.Short().c_str());
  }
  std::string out =
      o.format == "dot" ? engine::graph::RenderDot(b->graph) : engine::graph::RenderText(b->graph);
  std::fwrite(out.data(), 1, out.size(), stdout);
  return absl::OkStatus();
}

CommandRegistrar registrar(500, [](CLI::App& root) {
  CLI::App* debug = SubcommandOf(root, "debug", "Debugging tools");
  CLI::App* cmd = debug->add_subcommand(
      "graph",
      "Print the build graph a Dockerfile lowers to: one line per op in topological order\n"
      "(short digest, kind, input digests, [stage step/total], instruction), or Graphviz DOT.\n"
      "Without --root, base images are not looked up: any image reference is accepted with an\n"
      "empty config and a digest derived from the reference text. With --root DIR, FROM images\n"
      "are resolved in the image store of that kilnd state root, so the digests are the ones\n"
      "the build shows in its progress, trace and metadata file.");
  auto o = std::make_shared<Options>();
  cmd->add_option("-f,--file", o->file, "Dockerfile path (default: Dockerfile)");
  cmd->add_option("--target", o->target, "Build this stage (default: the last one)");
  cmd->add_option("--build-arg", o->build_args, "Set a build argument KEY=VALUE (repeatable)");
  cmd->add_option("--root", o->root,
                  "Resolve FROM images in this kilnd state root's image store (kilnd --root)");
  cmd->add_option("--format", o->format, "text or dot")->check(CLI::IsMember({"text", "dot"}));
  cmd->add_option("context", o->context,
                  "Build context directory, for .dockerignore and its identity (default: .)");
  cmd->callback([o] { ExitIfError(Run(*o)); });
});

}  // namespace
}  // namespace kiln::tools
