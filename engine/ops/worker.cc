#include "engine/ops/worker.h"

#include <fcntl.h>
#include <sys/random.h>

#include <cstdio>

#include "absl/strings/str_cat.h"
#include "base/status.h"

namespace kiln::engine {

std::string NewSnapshotKey(std::string_view prefix) {
  unsigned char raw[8];
  if (::getrandom(raw, sizeof raw, 0) != sizeof raw) {
    static std::atomic<uint64_t> counter{0};
    uint64_t n = counter.fetch_add(1) ^ static_cast<uint64_t>(::getpid()) << 32;
    std::memcpy(raw, &n, sizeof raw);
  }
  char hex[17];
  for (int i = 0; i < 8; ++i) std::snprintf(hex + 2 * i, 3, "%02x", raw[i]);
  return absl::StrCat(base::AsAbsl(prefix), "-", hex);
}

std::vector<base::Mount> ForUserXattr(std::vector<base::Mount> mounts) {
  for (auto& m : mounts) {
    if (m.type != "overlay") continue;
    bool has = false;
    for (const auto& o : m.options) has = has || o == "userxattr";
    if (!has) m.options.push_back("userxattr");
  }
  return mounts;
}

absl::StatusOr<MountedSnapshot> MountedSnapshot::Mount(const std::string& tmp,
                                                       const std::vector<base::Mount>& m) {
  MountedSnapshot out;
  KILN_ASSIGN_OR_RETURN(out.dir_, base::TempDir::Create("mnt-", tmp));
  KILN_RETURN_IF_ERROR(base::MountAllAt(ForUserXattr(m), out.dir_.path()));
  out.mount_ = base::ScopedMount(out.dir_.path());
  return out;
}

MountedSnapshot::~MountedSnapshot() { (void)mount_.Reset(); }

absl::Status MountedSnapshot::Unmount() { return mount_.Reset(); }

absl::StatusOr<base::UniqueFd> MountedSnapshot::OpenRoot() const {
  base::UniqueFd fd(::open(dir_.path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) return base::ErrnoError(absl::StrCat("open mounted snapshot '", dir_.path(), "'"));
  return fd;
}

}  // namespace kiln::engine
