// kilnctl image import|ls|rm: the image store kilnd builds from, through kilnd's ImageImport,
// ImageList and ImageRemove calls (kilnd is started when nobody answers, as for build), so an
// imported image is visible to the running daemon at once.
#include <unistd.h>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/status.h"
#include "tools/kilnctl/client.h"
#include "tools/kilnctl/command.h"
#include "tools/kilnctl/progress_format.h"

namespace kiln::tools {
namespace {

struct ImageFlags {
  std::string addr;
  std::string name;
  std::string path;
  std::vector<std::string> refs;
  bool quiet = false;
};

std::unique_ptr<DaemonClient> Connect(const ImageFlags& flags) {
  absl::StatusOr<std::unique_ptr<DaemonClient>> client =
      DaemonClient::Connect(ClientOptions{AddrOr(flags.addr)});
  ExitIfError(client.status());
  return std::move(*client);
}

// kilnd reads the path itself, so a relative one is made absolute against our cwd.
std::string Absolute(const std::string& path) {
  if (!path.empty() && path[0] == '/') return path;
  char cwd[4096];
  if (getcwd(cwd, sizeof(cwd)) == nullptr) ExitIfError(base::ErrnoError("getcwd"));
  return absl::StrCat(cwd, "/", path);
}

void RunImport(const ImageFlags& flags) {
  std::string path = Absolute(flags.path);
  std::unique_ptr<DaemonClient> client = Connect(flags);
  absl::StatusOr<std::vector<std::string>> refs = client->ImageImport(path, flags.name);
  ExitIfError(refs.status());
  for (const std::string& ref : *refs) std::printf("imported %s\n", ref.c_str());
}

void RunList(const ImageFlags& flags) {
  std::unique_ptr<DaemonClient> client = Connect(flags);
  absl::StatusOr<std::vector<engine::ImageSummary>> images = client->ImageList();
  ExitIfError(images.status());
  if (!flags.quiet) std::printf("%-50s %-14s %10s  %s\n", "REF", "DIGEST", "SIZE", "CREATED");
  for (const engine::ImageSummary& image : *images) {
    if (flags.quiet) {
      std::printf("%s\n", image.ref.c_str());
      continue;
    }
    std::string created =
        image.created_unix > 0 ? FormatAgo(image.created_unix) : std::string("unknown");
    std::printf("%-50s %-14s %10s  %s\n", image.ref.c_str(),
                image.manifest_digest.short_hex().c_str(), FormatBytes(image.size_bytes).c_str(),
                created.c_str());
  }
}

void RunRemove(const ImageFlags& flags) {
  std::unique_ptr<DaemonClient> client = Connect(flags);
  bool failed = false;
  for (const std::string& ref : flags.refs) {
    absl::Status status = client->ImageRemove(ref);
    if (!status.ok()) {
      std::fprintf(stderr, "kilnctl: %s\n", std::string(status.message()).c_str());
      failed = true;
      continue;
    }
    std::printf("untagged %s\n", ref.c_str());
  }
  if (failed) throw CommandExit{1};
}

CommandRegistrar registrar(40, [](CLI::App& root) {
  CLI::App* image = SubcommandOf(root, "image", "Manage images in kilnd's image store");
  image->require_subcommand(1);
  // --addr belongs to the group, and the leaves pass it up (fallthrough), so both
  // `kilnctl image --addr A ls` and `kilnctl image ls --addr A` work.
  auto addr = std::make_shared<std::string>();
  image->add_option("--addr", *addr, "kilnd address (unix:///path); default: this user's");

  auto import_flags = std::make_shared<ImageFlags>();
  CLI::App* import = image->add_subcommand(
      "import", "Import an OCI layout dir, oci-archive or docker-archive (docker save) tar");
  import->add_option("PATH", import_flags->path, "Layout directory or tar file")->required();
  import->add_option("--name", import_flags->name,
                     "Reference to store it under (e.g. busybox:1.35)");
  import->fallthrough();
  import->callback([import_flags, addr] {
    import_flags->addr = *addr;
    RunImport(*import_flags);
  });

  auto ls_flags = std::make_shared<ImageFlags>();
  CLI::App* ls = image->add_subcommand("ls", "List images in kilnd's store");
  ls->alias("list");
  ls->add_flag("-q,--quiet", ls_flags->quiet, "Print references only");
  ls->fallthrough();
  ls->callback([ls_flags, addr] {
    ls_flags->addr = *addr;
    RunList(*ls_flags);
  });

  auto rm_flags = std::make_shared<ImageFlags>();
  CLI::App* rm = image->add_subcommand("rm", "Remove image references (blobs stay until prune)");
  rm->alias("remove");
  rm->add_option("REF", rm_flags->refs, "References to remove")->required();
  rm->fallthrough();
  rm->callback([rm_flags, addr] {
    rm_flags->addr = *addr;
    RunRemove(*rm_flags);
  });
});

}  // namespace
}  // namespace kiln::tools
