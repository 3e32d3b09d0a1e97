#include "engine/core/run_image.h"

#include <sys/stat.h>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "base/status.h"
#include "base/temp_dir.h"
#include "base/unique_fd.h"
#include "base/userns.h"
#include "cache/fs_content_store.h"
#include "engine/image/image_store.h"
#include "engine/image/state_root.h"
#include "engine/oci/image.h"
#include "engine/oci/manifest.h"
#include "engine/oci/media_types.h"
#include "engine/oci/platform_image.h"
#include "engine/solver/cancellation.h"
#include "sandbox/cancel.h"
#include "sandbox/sandbox.h"
#include "snapshotter/diff/applier.h"
#include "snapshotter/diff/sink.h"

namespace kiln::engine {

absl::StatusOr<sandbox::Spec> ImageRunSpec(const std::string& ref, const oci::Image& img,
                                           const Engine::RunOptions& options,
                                           const std::string& default_network) {
  std::vector<std::string> argv = img.config.entrypoint.value_or(std::vector<std::string>{});
  const std::vector<std::string> cmd = img.config.cmd.value_or(std::vector<std::string>{});
  const std::vector<std::string>& tail = options.args.empty() ? cmd : options.args;
  argv.insert(argv.end(), tail.begin(), tail.end());
  if (argv.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("run '", ref, "': the image has no ENTRYPOINT or CMD; give a command"));
  }
  sandbox::Spec spec;
  spec.argv = std::move(argv);
  spec.env = img.config.env;
  if (!oci::EnvLookup(spec.env, "PATH")) {
    spec.env.push_back("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
  }
  for (const std::string& kv : options.env) {
    size_t eq = kv.find('=');
    oci::EnvSet(spec.env, kv.substr(0, eq), eq == std::string::npos ? "" : kv.substr(eq + 1));
  }
  spec.cwd = img.config.working_dir.empty() ? "/" : img.config.working_dir;
  spec.user = img.config.user;
  std::string net = options.network.empty() ? default_network : options.network;
  spec.network = net == "none"      ? sandbox::NetworkMode::kNone
                 : net == "default" ? sandbox::NetworkMode::kDefault
                                    : sandbox::NetworkMode::kHost;
  spec.timeout = options.timeout;
  spec.kill_grace = absl::Seconds(2);
  spec.on_stdout = options.on_stdout;
  spec.on_stderr = options.on_stderr;
  return spec;
}

absl::StatusOr<int> RunWithCancel(const sandbox::Sandbox& sandbox, sandbox::Spec spec,
                                  solver::Cancellation* cancel) {
  sandbox::CancelHandle handle;
  spec.cancel = &handle;
  uint64_t cb = cancel != nullptr ? cancel->AddCallback([&handle] { handle.Cancel(); }) : 0;
  absl::Cleanup drop = [&] {
    if (cb != 0) cancel->RemoveCallback(cb);
  };
  KILN_ASSIGN_OR_RETURN(sandbox::Result res, sandbox.Run(spec));
  return res.signal != 0 ? 128 + res.signal : res.exit_code;
}

absl::StatusOr<int> RunStoredImage(const std::string& state_root, const std::string& ref,
                                   const Engine::RunOptions& options) {
  KILN_ASSIGN_OR_RETURN(auto content,
                        cache::OpenFsContentStore(image::ContentStoreDir(state_root)));
  KILN_ASSIGN_OR_RETURN(auto store,
                        image::ImageStore::Open(image::ImageStoreDir(state_root), content.get()));
  KILN_ASSIGN_OR_RETURN(oci::PlatformImage image, store->Resolve(ref, oci::Platform::Default()));
  const oci::Manifest& m = image.manifest;
  const oci::Image& img = image.config;

  KILN_ASSIGN_OR_RETURN(base::TempDir dir, base::TempDir::Create("kiln-run-"));
  std::string rootfs = dir.path() + "/rootfs";
  if (::mkdir(rootfs.c_str(), 0755) != 0) return base::ErrnoError("create rootfs dir");
  snapshotter::ApplyOptions apply;
  if (base::MappedUidCount() < 65536) apply.unmapped_ids = snapshotter::UnmappedIds::kMapToRoot;
  for (size_t i = 0; i < m.layers.size(); ++i) {
    KILN_ASSIGN_OR_RETURN(int raw, content->OpenRead(m.layers[i].digest));
    base::UniqueFd fd(raw);
    snapshotter::FdSource src(fd.get());
    KILN_ASSIGN_OR_RETURN(snapshotter::ApplyResult r, snapshotter::ApplyLayer(&src, rootfs, apply));
    if (i < img.diff_ids.size() && r.diff_id != img.diff_ids[i]) {
      return absl::DataLossError(absl::StrCat("layer ", m.layers[i].digest.str(), " of '", ref,
                                              "' does not match its diff_id"));
    }
  }

  sandbox::SandboxOptions so;
  so.state_dir = dir.path();
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<sandbox::Sandbox> sb,
                        sandbox::Sandbox::Create(std::move(so)));
  KILN_ASSIGN_OR_RETURN(sandbox::Spec spec, ImageRunSpec(ref, img, options, "host"));
  spec.rootfs = {base::Mount{"bind", rootfs, {"rbind"}}};
  return RunWithCancel(*sb, std::move(spec), options.cancel);
}

}  // namespace kiln::engine
