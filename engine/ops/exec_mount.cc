#include "engine/ops/exec_mount.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "base/mount.h"
#include "base/status.h"
#include "base/temp_dir.h"
#include "engine/copy/copy.h"
#include "engine/ops/cache_mount.h"
#include "engine/ops/exec_mount_source.h"

namespace kiln::engine {
namespace {

using graph::ExecMount;
using Type = graph::ExecMount::Type;

const char* TypeName(Type t) {
  switch (t) {
    case Type::kBind:
      return "bind";
    case Type::kCache:
      return "cache";
    case Type::kTmpfs:
      return "tmpfs";
    case Type::kSecret:
      return "secret";
    case Type::kSsh:
      return "ssh";
  }
  return "?";
}

// A mount point the engine made under its tmp dir (a directory, or a file in one) with
// something mounted on it. Never removes recursively: it detaches, then rmdir/unlink, so a
// failed unmount can never delete what was mounted there.
class EngineMountPoint {
 public:
  static absl::StatusOr<EngineMountPoint> Create(const std::string& tmp, const char* prefix,
                                                 bool file) {
    std::string tmpl = absl::StrCat(tmp, "/", prefix, "XXXXXX");
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    if (::mkdtemp(buf.data()) == nullptr)
      return base::ErrnoError(absl::StrCat("mkdtemp '", tmpl, "'"));
    EngineMountPoint p;
    p.dir_ = buf.data();
    p.point_ = p.dir_;
    if (file) {
      p.point_ = p.dir_ + "/f";
      base::UniqueFd fd(::open(p.point_.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600));
      if (!fd) return base::ErrnoError(absl::StrCat("create '", p.point_, "'"));
    }
    return p;
  }
  EngineMountPoint() = default;
  EngineMountPoint(EngineMountPoint&& o) noexcept { *this = std::move(o); }
  EngineMountPoint& operator=(EngineMountPoint&& o) noexcept {
    std::swap(dir_, o.dir_);
    std::swap(point_, o.point_);
    std::swap(mounted_, o.mounted_);
    return *this;
  }
  ~EngineMountPoint() {
    if (dir_.empty()) return;
    if (mounted_) ::umount2(point_.c_str(), MNT_DETACH);
    if (point_ != dir_) ::unlink(point_.c_str());
    ::rmdir(dir_.c_str());
  }
  absl::Status MountHere(const base::Mount& m) {
    KILN_RETURN_IF_ERROR(base::MountAt(m, point_));
    mounted_ = true;
    return absl::OkStatus();
  }
  const std::string& path() const { return point_; }

 private:
  std::string dir_;
  std::string point_;
  bool mounted_ = false;
};

absl::Status WriteAll(int fd, std::string_view data, const std::string& what) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return base::ErrnoError(absl::StrCat("write '", what, "'"));
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReadSecret(const std::string& id, const std::string& path) {
  base::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return base::ErrnoError(absl::StrCat("read secret '", id, "' from '", path, "'"));
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return base::ErrnoError(absl::StrCat("read secret '", id, "' from '", path, "'"));
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
    if (out.size() > kMaxSecretBytes) {
      return absl::InvalidArgumentError(absl::StrCat(
          "secret '", id, "' from '", path, "' is larger than ", kMaxSecretBytes, " bytes"));
    }
  }
  return out;
}

// Copies one regular file (`from`, readable) to a new file `to` with `from`'s mode.
absl::Status CopyRegularFile(const std::string& from, const std::string& to) {
  base::UniqueFd in(::open(from.c_str(), O_RDONLY | O_CLOEXEC));
  if (!in) return base::ErrnoError(absl::StrCat("open '", from, "'"));
  struct stat st;
  if (::fstat(in.get(), &st) != 0) return base::ErrnoError(absl::StrCat("stat '", from, "'"));
  base::UniqueFd out(
      ::open(to.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, st.st_mode & 07777));
  if (!out) return base::ErrnoError(absl::StrCat("create '", to, "'"));
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(in.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return base::ErrnoError(absl::StrCat("read '", from, "'"));
    if (n == 0) break;
    KILN_RETURN_IF_ERROR(WriteAll(out.get(), std::string_view(buf, static_cast<size_t>(n)), to));
  }
  if (::fchown(out.get(), st.st_uid, st.st_gid) != 0) {
    return base::ErrnoError(absl::StrCat("chown '", to, "'"));
  }
  return absl::OkStatus();
}

std::vector<std::string> RoIf(bool readonly) {
  return readonly ? std::vector<std::string>{"ro"} : std::vector<std::string>{};
}

absl::Status CheckIds(const RunMountsEnv& env, const ExecMount& m, uint32_t uid, uint32_t gid) {
  if (env.ids == nullptr || (env.ids->MapsUid(uid) && env.ids->MapsGid(gid))) {
    return absl::OkStatus();
  }
  return absl::FailedPreconditionError(
      absl::StrCat(env.where, ": ", DescribeMount(m), ": ",
                   env.ids->UnmappedIdMessage(absl::StrCat(uid, ":", gid), uid, gid)));
}

const solver::InputRef* InputOf(const ExecMount& m, const std::vector<solver::InputRef>& in) {
  if (m.input < 0 || static_cast<size_t>(m.input) >= in.size()) return nullptr;
  return &in[static_cast<size_t>(m.input)];
}

// The identity of a cache mount's directory: its id, plus what seeds a new one and the owner
// and mode it is made with (as BuildKit, where those make a different base).
std::string CacheMountKey(const ExecMount& m, const std::vector<solver::InputRef>& inputs) {
  std::string key = absl::StrCat("id=", m.cache_id);
  if (const solver::InputRef* in = InputOf(m, inputs)) {
    absl::StrAppend(&key, "\nfrom=", in->cache_key.hex(), ":", m.source);
  }
  if (m.uid) absl::StrAppend(&key, "\nuid=", *m.uid);
  if (m.gid) absl::StrAppend(&key, "\ngid=", *m.gid);
  if (m.mode) absl::StrAppend(&key, "\nmode=", *m.mode);
  return key;
}

}  // namespace

std::string DescribeMount(const ExecMount& m) {
  std::string out = absl::StrCat("RUN --mount=type=", TypeName(m.type));
  if (m.type == Type::kCache && m.cache_id != m.target) absl::StrAppend(&out, ",id=", m.cache_id);
  if (m.type == Type::kSecret || m.type == Type::kSsh) absl::StrAppend(&out, ",id=", m.id);
  if ((m.type == Type::kBind || m.type == Type::kCache) && m.source != "/") {
    absl::StrAppend(&out, ",source=", m.source);
  }
  if (!m.target.empty()) absl::StrAppend(&out, ",target=", m.target);
  if (!m.env.empty()) absl::StrAppend(&out, ",env=", m.env);
  return out;
}

absl::StatusOr<std::vector<cache::MountContent>> BindMountsContent(
    const MountServices& w, const std::vector<ExecMount>& mounts,
    const std::vector<solver::InputRef>& inputs) {
  std::vector<cache::MountContent> out;
  for (size_t i = 0; i < mounts.size(); ++i) {
    const ExecMount& m = mounts[i];
    if (m.type != Type::kBind) continue;
    const solver::InputRef* in = InputOf(m, inputs);
    if (in == nullptr) return absl::InternalError("RUN --mount: bind source input out of range");
    absl::StatusOr<std::string> digest = [&]() -> absl::StatusOr<std::string> {
      KILN_ASSIGN_OR_RETURN(auto src, MountSource::Open(w, *in));
      KILN_ASSIGN_OR_RETURN(MountSource::Resolved r, src->Resolve(m.source));
      bool excluded = false;
      return src->ContentDigest(r, &excluded);
    }();
    if (!digest.ok()) return base::Annotate(digest.status(), DescribeMount(m));
    out.push_back({static_cast<int64_t>(i), *std::move(digest)});
  }
  return out;
}

std::vector<solver::InputRef> KeyedInputs(const std::vector<ExecMount>& mounts,
                                          const std::vector<solver::InputRef>& inputs) {
  std::set<int> content_only, keyed = {0};
  for (const ExecMount& m : mounts) {
    if (m.input < 0) continue;
    (m.type == Type::kBind ? content_only : keyed).insert(m.input);
  }
  std::vector<solver::InputRef> out;
  for (size_t i = 0; i < inputs.size(); ++i) {
    int idx = static_cast<int>(i);
    if (content_only.count(idx) == 0 || keyed.count(idx) != 0) out.push_back(inputs[i]);
  }
  return out;
}

absl::StatusOr<std::unique_ptr<RunMounts>> RunMounts::Prepare(
    const RunMountsEnv& env, const std::vector<ExecMount>& mounts,
    const std::vector<solver::InputRef>& inputs) {
  std::unique_ptr<RunMounts> out(new RunMounts());
  for (const ExecMount& m : mounts) {
    absl::Status s;
    switch (m.type) {
      case Type::kBind: {
        const solver::InputRef* in = InputOf(m, inputs);
        if (in == nullptr)
          return absl::InternalError("RUN --mount: bind source input out of range");
        s = out->AddBind(env, m, *in);
        break;
      }
      case Type::kCache:
        s = out->AddCache(env, m, inputs);
        break;
      case Type::kTmpfs: {
        std::vector<std::string> opts = {"nosuid", "nodev"};
        if (m.size_bytes > 0) opts.push_back(absl::StrCat("size=", m.size_bytes));
        out->points_.push_back({base::Mount{"tmpfs", "tmpfs", opts}, m.target});
        break;
      }
      case Type::kSecret:
        s = out->AddSecret(env, m);
        break;
      case Type::kSsh:
        s = absl::InvalidArgumentError(
            absl::StrCat(env.where, ": RUN --mount=type=ssh is not supported yet"));
        break;
    }
    if (!s.ok()) {
      if (absl::StartsWith(s.message(), env.where + ":")) return s;
      return base::Annotate(s, absl::StrCat(env.where, ": ", DescribeMount(m)));
    }
  }
  return out;
}

RunMounts::~RunMounts() {
  while (!held_.empty()) held_.pop_back();  // newest first: unmount before removing dirs
}

std::vector<std::string> RunMounts::Targets() const {
  std::vector<std::string> out;
  for (const auto& p : points_) out.push_back(p.target);
  return out;
}

absl::Status RunMounts::AddBind(const RunMountsEnv& env, const ExecMount& m,
                                const solver::InputRef& in) {
  const MountServices& w = *env.services;
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<MountSource> src, MountSource::Open(w, in));
  MountSource* source = Hold(std::move(src))->get();
  KILN_ASSIGN_OR_RETURN(MountSource::Resolved r, source->Resolve(m.source));
  bool excluded = false;
  if (source->is_context() && source->exclude()) {
    KILN_ASSIGN_OR_RETURN(std::string unused, source->ContentDigest(r, &excluded));
  }
  if (excluded) {
    // .dockerignore hides part of it: mount a filtered private copy instead of the context.
    KILN_ASSIGN_OR_RETURN(base::TempDir copy, base::TempDir::Create("bindcopy-", w.tmp));
    base::TempDir* dir = Hold(std::move(copy));
    base::UniqueFd dst(::open(dir->path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!dst) return base::ErrnoError(absl::StrCat("open '", dir->path(), "'"));
    CopyOptions o;
    o.sources = {"/" + r.rel};
    o.dest = "/";
    o.allow_wildcards = false;
    o.exclude = source->exclude();
    KILN_RETURN_IF_ERROR(CopyFiles(source->fd(), dst.get(), o).status());
    points_.push_back({base::Mount{"bind", dir->path(), RoIf(m.readonly)}, m.target});
    return absl::OkStatus();
  }
  // Anchor the resolved source on an engine-owned mount point through its fd.
  KILN_ASSIGN_OR_RETURN(EngineMountPoint point,
                        EngineMountPoint::Create(w.tmp, "bind-", !r.is_dir));
  EngineMountPoint* p = Hold(std::move(point));
  KILN_RETURN_IF_ERROR(
      p->MountHere(base::Mount{"bind", absl::StrCat("/proc/self/fd/", r.fd.get()), {}}));
  if (m.readonly) {
    points_.push_back({base::Mount{"bind", p->path(), {"ro"}}, m.target});
    return absl::OkStatus();
  }
  // rw: writes land in a throwaway upper dir (a directory) or a throwaway copy (a file).
  KILN_ASSIGN_OR_RETURN(base::TempDir scratch, base::TempDir::Create("bindrw-", w.tmp));
  base::TempDir* dir = Hold(std::move(scratch));
  if (!r.is_dir) {
    std::string copy = dir->path() + "/f";
    KILN_RETURN_IF_ERROR(CopyRegularFile(p->path(), copy));
    points_.push_back({base::Mount{"bind", copy, {}}, m.target});
    return absl::OkStatus();
  }
  std::string upper = dir->path() + "/upper", work = dir->path() + "/work";
  if (::mkdir(upper.c_str(), 0755) != 0 || ::mkdir(work.c_str(), 0700) != 0) {
    return base::ErrnoError(absl::StrCat("create '", upper, "'"));
  }
  points_.push_back(
      {base::Mount{
           "overlay", "overlay", {"lowerdir=" + p->path(), "upperdir=" + upper, "workdir=" + work}},
       m.target});
  return absl::OkStatus();
}

absl::Status RunMounts::AddCache(const RunMountsEnv& env, const ExecMount& m,
                                 const std::vector<solver::InputRef>& inputs) {
  const MountServices& w = *env.services;
  KILN_ASSIGN_OR_RETURN(CacheSharing sharing, ParseCacheSharing(m.sharing));
  if (m.uid || m.gid) KILN_RETURN_IF_ERROR(CheckIds(env, m, m.uid.value_or(0), m.gid.value_or(0)));
  CacheMountRequest req;
  req.key = CacheMountKey(m, inputs);
  req.sharing = sharing;
  if (m.mode) req.mode = static_cast<mode_t>(*m.mode);
  if (m.uid) req.uid = *m.uid;
  if (m.gid) req.gid = *m.gid;
  req.cancelled = env.cancelled;
  if (const solver::InputRef* in = InputOf(m, inputs)) {
    req.seed = [&w, in, &m](int dir_fd) -> absl::Status {
      KILN_ASSIGN_OR_RETURN(std::unique_ptr<MountSource> src, MountSource::Open(w, *in));
      KILN_ASSIGN_OR_RETURN(MountSource::Resolved r, src->Resolve(m.source));
      CopyOptions o;
      o.sources = {"/" + r.rel};
      o.dest = "/";
      o.allow_wildcards = false;
      o.preserve_owner = true;
      o.exclude = src->exclude();
      KILN_RETURN_IF_ERROR(CopyFiles(src->fd(), dir_fd, o).status());
      struct stat st;  // the instance root takes the seed root's owner and mode
      if (::fstat(r.fd.get(), &st) == 0 && S_ISDIR(st.st_mode)) {
        if (::fchown(dir_fd, st.st_uid, st.st_gid) != 0)
          return base::ErrnoError("chown cache seed");
        if (::fchmod(dir_fd, st.st_mode & 07777) != 0) return base::ErrnoError("chmod cache seed");
      }
      return absl::OkStatus();
    };
  }
  KILN_ASSIGN_OR_RETURN(CacheMountLease lease, AcquireCacheMount(w.cache_mounts_dir, req));
  CacheMountLease* held = Hold(std::move(lease));
  points_.push_back({base::Mount{"bind", held->path(), RoIf(m.readonly)}, m.target});
  return absl::OkStatus();
}

absl::Status RunMounts::AddSecret(const RunMountsEnv& env, const ExecMount& m) {
  auto it = env.secrets.find(m.id);
  if (it == env.secrets.end()) {
    if (!m.required) return absl::OkStatus();  // skipped, as BuildKit does
    return absl::InvalidArgumentError(absl::StrCat(
        env.where, ": ", DescribeMount(m), ": secret '", m.id,
        "' is required but this build has no secret with that id; expected it among the "
        "build's secrets (kilnctl build --secret id=",
        m.id, ",src=PATH)"));
  }
  KILN_ASSIGN_OR_RETURN(std::string value, ReadSecret(m.id, it->second));
  if (!m.env.empty()) env_.push_back(absl::StrCat(m.env, "=", value));
  if (m.target.empty()) return absl::OkStatus();
  uint32_t uid = m.uid.value_or(0), gid = m.gid.value_or(0);
  KILN_RETURN_IF_ERROR(CheckIds(env, m, uid, gid));
  if (secrets_dir_.empty()) {
    // One private tmpfs per run: secret bytes never touch the disk.
    KILN_ASSIGN_OR_RETURN(EngineMountPoint point,
                          EngineMountPoint::Create(env.services->tmp, "secrets-", false));
    EngineMountPoint* p = Hold(std::move(point));
    KILN_RETURN_IF_ERROR(p->MountHere(
        base::Mount{"tmpfs", "tmpfs", {"nosuid", "nodev", "noexec", "mode=0700", "size=64m"}}));
    secrets_dir_ = p->path();
  }
  std::string file = absl::StrCat(secrets_dir_, "/", points_.size());
  base::UniqueFd fd(::open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (!fd) return base::ErrnoError(absl::StrCat("create secret file '", file, "'"));
  KILN_RETURN_IF_ERROR(WriteAll(fd.get(), value, file));
  if (::fchown(fd.get(), uid, gid) != 0) {
    return base::ErrnoError(absl::StrCat("chown secret '", m.id, "' to ", uid, ":", gid));
  }
  if (::fchmod(fd.get(), static_cast<mode_t>(m.mode.value_or(0400) & 07777)) != 0) {
    return base::ErrnoError(absl::StrCat("chmod secret '", m.id, "'"));
  }
  points_.push_back({base::Mount{"bind", file, {"ro"}}, m.target});
  return absl::OkStatus();
}

}  // namespace kiln::engine
