// kilnctl image import|ls|rm: the local image store, in-process (kilnd takes over later).
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "cache/fs_content_store.h"
#include "engine/image/image_info.h"
#include "engine/image/image_store.h"
#include "engine/image/state_root.h"
#include "tools/kilnctl/command.h"
#include "tools/kilnctl/progress_format.h"

namespace kiln::tools {
namespace {

struct ImageFlags {
  std::string root;
  std::string name;
  std::string platform;
  std::string path;
  std::vector<std::string> refs;
  bool quiet = false;
};

struct OpenedStore {
  std::unique_ptr<cache::ContentStore> content;
  std::unique_ptr<engine::image::ImageStore> images;
};

OpenedStore OpenStore(const ImageFlags& flags) {
  std::string root = flags.root.empty() ? engine::image::DefaultStateRoot() : flags.root;
  OpenedStore s;
  auto content = cache::OpenFsContentStore(engine::image::ContentStoreDir(root));
  ExitIfError(content.status());
  s.content = std::move(*content);
  auto images =
      engine::image::ImageStore::Open(engine::image::ImageStoreDir(root), s.content.get());
  ExitIfError(images.status());
  s.images = std::move(*images);
  return s;
}

void RunImport(const ImageFlags& flags) {
  OpenedStore s = OpenStore(flags);
  engine::image::ImportOptions options;
  options.name = flags.name;
  if (!flags.platform.empty()) {
    auto p = engine::oci::Platform::Parse(flags.platform);
    ExitIfError(p.status());
    options.platform = *p;
  }
  auto records = s.images->Import(flags.path, options);
  ExitIfError(records.status());
  for (const auto& r : *records) {
    std::printf("imported %s %s\n", r.ref.c_str(), r.target.digest.str().c_str());
  }
}

void RunList(const ImageFlags& flags) {
  OpenedStore s = OpenStore(flags);
  auto records = s.images->List();
  ExitIfError(records.status());
  if (!flags.quiet) std::printf("%-50s %-14s %10s  %s\n", "REF", "DIGEST", "SIZE", "CREATED");
  for (const auto& r : *records) {
    if (flags.quiet) {
      std::printf("%s\n", r.ref.c_str());
      continue;
    }
    auto info = engine::image::DescribeImage(*s.content, r);
    if (!info.ok()) {
      std::printf("%-50s %-14s %10s  %s\n", r.ref.c_str(), r.target.digest.short_hex().c_str(), "?",
                  absl::StrCat("(broken: ", info.status().message(), ")").c_str());
      continue;
    }
    std::string created =
        info->created ? FormatAgo(absl::ToUnixSeconds(*info->created)) : std::string("unknown");
    std::printf("%-50s %-14s %10s  %s\n", r.ref.c_str(), r.target.digest.short_hex().c_str(),
                FormatBytes(info->size).c_str(), created.c_str());
  }
}

void RunRemove(const ImageFlags& flags) {
  OpenedStore s = OpenStore(flags);
  bool failed = false;
  for (const auto& ref : flags.refs) {
    absl::Status st = s.images->Remove(ref);
    if (!st.ok()) {
      std::fprintf(stderr, "kilnctl: %s\n", std::string(st.message()).c_str());
      failed = true;
      continue;
    }
    std::printf("untagged %s\n", ref.c_str());
  }
  if (failed) throw CommandExit{1};
}

void AddRoot(CLI::App* cmd, ImageFlags* flags) {
  cmd->add_option("--root", flags->root,
                  "State dir (default /var/lib/kiln as root, $XDG_DATA_HOME/kiln otherwise)");
}

CommandRegistrar registrar(40, [](CLI::App& root) {
  CLI::App* image = SubcommandOf(root, "image", "Manage images in the local image store");
  image->require_subcommand(1);

  auto import_flags = std::make_shared<ImageFlags>();
  CLI::App* import = image->add_subcommand(
      "import", "Import an OCI layout dir, oci-archive or docker-archive (docker save) tar");
  import->add_option("PATH", import_flags->path, "Layout directory or tar file")->required();
  import->add_option("--name", import_flags->name,
                     "Reference to store it under (e.g. busybox:1.35)");
  import->add_option("--platform", import_flags->platform,
                     "Platform to take from a multi-platform index (default linux/amd64)");
  AddRoot(import, import_flags.get());
  import->callback([import_flags] { RunImport(*import_flags);
});

auto ls_flags = std::make_shared<ImageFlags>();
CLI::App* ls = image->add_subcommand("ls", "List images in the local store");
ls->alias("list");
ls->add_flag("-q,--quiet", ls_flags->quiet, "Print references only");
AddRoot(ls, ls_flags.get());
ls->callback([ls_flags] { RunList(*ls_flags); });

auto rm_flags = std::make_shared<ImageFlags>();
CLI::App* rm = image->add_subcommand("rm", "Remove image references (blobs stay until prune)");
rm->alias("remove");
rm->add_option("REF", rm_flags->refs, "References to remove")->required();
AddRoot(rm, rm_flags.get());
rm->callback([rm_flags] { RunRemove(*rm_flags); });
});

}  // namespace
}  // namespace kiln::tools
