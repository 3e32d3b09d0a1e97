#include "snapshotter/diff/differ.h"

#include <sys/stat.h>

#include <memory>
#include <optional>
#include <utility>

#include "absl/strings/match.h"
#include "base/status.h"
#include "base/temp_dir.h"
#include "snapshotter/diff/diff_walk.h"
#include "snapshotter/diff/tar_writer.h"

namespace kiln::snapshotter {
namespace {

template <typename WalkFn>
absl::StatusOr<LayerDescriptor> Encode(const DiffOptions& options, ByteSink* sink, WalkFn walk) {
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<LayerEncoder> enc,
                        LayerEncoder::Create(options.encoder, sink));
  internal::TarWriter tar(enc.get());
  internal::WalkOptions wo;
  wo.source_date_epoch = options.source_date_epoch;
  wo.always_compare_content = options.always_compare_content;
  KILN_RETURN_IF_ERROR(walk(wo, &tar));
  KILN_RETURN_IF_ERROR(tar.Close());
  return enc->Finish();
}

// The directories a read-only view `lower` shows, top-most first, if simple enough to tell.
std::vector<std::string> LowerDirsOf(const std::vector<base::Mount>& lower) {
  if (lower.empty()) return {};
  if (lower.size() != 1) return {"?"};
  const base::Mount& m = lower[0];
  if (m.type == "bind") return {m.source};
  if (m.type == "overlay" && base::OverlayOption(m, "upperdir").empty()) {
    return base::OverlayOption(m, "lowerdir");
  }
  return {"?"};
}

absl::StatusOr<std::string> MountReadOnly(const std::vector<base::Mount>& mounts,
                                          const std::string& dir,
                                          std::vector<base::ScopedMount>* held) {
  for (base::Mount m : mounts) {
    m.options.push_back("ro");
    KILN_RETURN_IF_ERROR(base::MountAt(m, dir));
    held->emplace_back(dir);
  }
  return dir;
}

}  // namespace

absl::StatusOr<LayerDescriptor> DiffUpperDir(const std::string& upperdir,
                                             const DiffOptions& options, ByteSink* sink) {
  return Encode(options, sink, [&](const internal::WalkOptions& wo, internal::TarWriter* tar) {
    return internal::WalkUpperDir(upperdir, wo, tar);
  });
}

absl::StatusOr<LayerDescriptor> DiffTrees(const std::string& lower, const std::string& upper,
                                          const DiffOptions& options, ByteSink* sink) {
  return Encode(options, sink, [&](const internal::WalkOptions& wo, internal::TarWriter* tar) {
    return internal::WalkTrees(lower, upper, wo, tar);
  });
}

absl::StatusOr<LayerDescriptor> DiffMounts(const std::vector<base::Mount>& lower,
                                           const std::vector<base::Mount>& upper,
                                           const DiffOptions& options, ByteSink* sink) {
  if (upper.empty()) return absl::InvalidArgumentError("diff mounts: no upper mount");
  if (upper.size() == 1 && upper[0].type == "overlay") {
    std::vector<std::string> upperdir = base::OverlayOption(upper[0], "upperdir");
    if (upperdir.size() == 1 && base::OverlayOption(upper[0], "lowerdir") == LowerDirsOf(lower)) {
      return DiffUpperDir(upperdir[0], options, sink);
    }
  }
  // Plain bind mounts are read straight from their source: no mount needed.
  auto plain_dir = [](const std::vector<base::Mount>& ms) -> std::optional<std::string> {
    if (ms.empty()) return std::string();
    if (ms.size() == 1 && ms[0].type == "bind") return ms[0].source;
    return std::nullopt;
  };
  std::optional<std::string> lower_src = plain_dir(lower), upper_src = plain_dir(upper);
  if (lower_src && upper_src && !upper_src->empty()) {
    return DiffTrees(*lower_src, *upper_src, options, sink);
  }
  KILN_ASSIGN_OR_RETURN(base::TempDir tmp, base::TempDir::Create("kiln-diff-"));
  std::string lower_dir = tmp.path() + "/lower";
  std::string upper_dir = tmp.path() + "/upper";
  for (const std::string& d : {lower_dir, upper_dir}) {
    if (::mkdir(d.c_str(), 0700) != 0) return base::ErrnoError("mkdir '" + d + "'");
  }
  // Declared after tmp: unmounted before the temp dir is removed.
  std::vector<base::ScopedMount> held;
  if (!lower.empty()) {
    KILN_RETURN_IF_ERROR(MountReadOnly(lower, lower_dir, &held).status());
  }
  KILN_RETURN_IF_ERROR(MountReadOnly(upper, upper_dir, &held).status());
  auto result = DiffTrees(lower.empty() ? std::string() : lower_dir, upper_dir, options, sink);
  while (!held.empty()) {
    absl::Status s = held.back().Reset();
    held.pop_back();
    if (!s.ok() && result.ok()) result = s;
  }
  return result;
}

}  // namespace kiln::snapshotter
