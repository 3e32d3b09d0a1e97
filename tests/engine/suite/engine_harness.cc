#include "tests/engine/suite/engine_harness.h"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "base/status.h"
#include "base/unique_fd.h"
#include "cache/cache_key.h"
#include "engine/copy/copy.h"
#include "engine/core/cache_seam.h"
#include "engine/frontend/dockerignore.h"
#include "engine/ops/exec_op.h"
#include "engine/ops/file_op.h"
#include "engine/ops/results.h"
#include "engine/ops/source_ops.h"

namespace kiln::engine::testing {
namespace {

constexpr char kBaseRef[] = "docker.io/library/base:latest";

base::Digest BaseManifest() { return base::Digest::Of("fake manifest of base"); }

// Writes `rel` below directory fd `root` (a trusted test tree), making parents 0755.
absl::Status WriteAt(int root, const std::string& rel, std::string_view data, mode_t mode) {
  size_t slash = rel.find_last_of('/');
  if (slash != std::string::npos) {
    KILN_RETURN_IF_ERROR(MakeDirs(root, "/" + rel.substr(0, slash), 0755));
  }
  base::UniqueFd fd(::openat(root, rel.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode));
  if (!fd) return base::ErrnoError(absl::StrCat("create '", rel, "'"));
  if (::write(fd.get(), data.data(), data.size()) != static_cast<ssize_t>(data.size())) {
    return base::ErrnoError(absl::StrCat("write '", rel, "'"));
  }
  if (::fchmod(fd.get(), mode) != 0) return base::ErrnoError(absl::StrCat("chmod '", rel, "'"));
  return absl::OkStatus();
}

absl::Status ReadTree(int dir, const std::string& prefix, TreeMap* out) {
  int dup = ::fcntl(dir, F_DUPFD_CLOEXEC, 0);
  if (dup < 0) return base::ErrnoError("dup dir fd");
  DIR* d = ::fdopendir(dup);
  if (d == nullptr) {
    ::close(dup);
    return base::ErrnoError(absl::StrCat("list '", prefix, "'"));
  }
  std::vector<std::string> names;
  while (struct dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n != "." && n != "..") names.push_back(n);
  }
  ::closedir(d);
  for (const std::string& n : names) {
    std::string rel = prefix.empty() ? n : prefix + "/" + n;
    struct stat st;
    if (::fstatat(dir, n.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      return base::ErrnoError(absl::StrCat("stat '", rel, "'"));
    }
    Node node{'f', static_cast<mode_t>(st.st_mode & 07777), st.st_uid, st.st_gid, ""};
    if (S_ISDIR(st.st_mode)) {
      node.type = 'd';
      base::UniqueFd sub(::openat(dir, n.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (!sub) return base::ErrnoError(absl::StrCat("open '", rel, "'"));
      KILN_RETURN_IF_ERROR(ReadTree(sub.get(), rel, out));
    } else if (S_ISLNK(st.st_mode)) {
      node.type = 'l';
      char buf[4096];
      ssize_t len = ::readlinkat(dir, n.c_str(), buf, sizeof buf);
      if (len < 0) return base::ErrnoError(absl::StrCat("readlink '", rel, "'"));
      node.data.assign(buf, static_cast<size_t>(len));
    } else {
      base::UniqueFd f(::openat(dir, n.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
      if (!f) return base::ErrnoError(absl::StrCat("open '", rel, "'"));
      char buf[4096];
      ssize_t len;
      while ((len = ::read(f.get(), buf, sizeof buf)) > 0) node.data.append(buf, len);
      if (len < 0) return base::ErrnoError(absl::StrCat("read '", rel, "'"));
    }
    (*out)[rel] = std::move(node);
  }
  return absl::OkStatus();
}

// Resolves only "base" (any tag), to BaseImage().
class FakeResolver final : public ImageResolver {
 public:
  absl::StatusOr<ResolvedImage> Resolve(std::string_view ref, std::string_view) override {
    if (ref != "base" && ref != "base:latest") {
      return absl::NotFoundError(absl::StrCat("image '", base::AsAbsl(ref), "' not found"));
    }
    ResolvedImage r;
    r.ref = kBaseRef;
    r.manifest_digest = BaseManifest();
    r.config_digest = base::Digest::Of(oci::SerializeImage(BaseImage()));
    r.config = BaseImage().config;
    return r;
  }
};

// FROM base: commits the base tree as "layer-<manifest hex>" once, like an unpacked image.
class FakeImageOp final : public solver::Op {
 public:
  FakeImageOp(snapshotter::Snapshotter* snaps, const TreeAccess* trees, base::Digest manifest,
              std::shared_ptr<std::atomic<int>> unpacks)
      : snaps_(snaps),
        trees_(trees),
        manifest_(std::move(manifest)),
        unpacks_(std::move(unpacks)) {}
  absl::StatusOr<base::Digest> CacheKey(solver::ExecContext&,
                                        const std::vector<solver::InputRef>&) const override {
    return cache::ImageSourceCacheKey(manifest_);
  }
  absl::StatusOr<solver::ResultRef> Exec(solver::ExecContext&,
                                         const std::vector<solver::InputRef>&) const override {
    std::string name = "layer-" + manifest_.hex();
    if (snaps_->Stat(name).ok()) return std::make_shared<SnapshotResult>(name);
    std::string key = NewSnapshotKey("unpack");
    KILN_ASSIGN_OR_RETURN(auto mounts, snaps_->Prepare(key, ""));
    absl::Status s = [&]() -> absl::Status {
      KILN_ASSIGN_OR_RETURN(Tree tree, trees_->Open(mounts));
      KILN_RETURN_IF_ERROR(WriteAt(tree.fd(), "etc/passwd",
                                   "root:x:0:0:root:/root:/bin/sh\n"
                                   "app:x:1000:1000:app:/home/app:/bin/sh\n",
                                   0644));
      KILN_RETURN_IF_ERROR(WriteAt(tree.fd(), "etc/group", "root:x:0:\napp:x:1000:\n", 0644));
      KILN_RETURN_IF_ERROR(WriteAt(tree.fd(), "bin/sh", "#!fake shell\n", 0755));
      KILN_RETURN_IF_ERROR(MakeDirs(tree.fd(), "/tmp", 01777));
      KILN_RETURN_IF_ERROR(MakeDirs(tree.fd(), "/home/app", 0755, kAppUid, kAppGid));
      return tree.Close();
    }();
    if (s.ok()) s = snaps_->Commit(name, key);
    if (!s.ok()) {
      (void)snaps_->Remove(key);
      return s;
    }
    unpacks_->fetch_add(1);
    return std::make_shared<SnapshotResult>(name);
  }

 private:
  snapshotter::Snapshotter* snaps_;
  const TreeAccess* trees_;
  base::Digest manifest_;
  std::shared_ptr<std::atomic<int>> unpacks_;
};

// Whether the final stage of `lowered` starts from an image (as LocalEngine::BaseImageOf).
bool FromImage(const LoweredBuild& lowered) {
  graph::VertexId id = lowered.final_vertex;
  for (size_t guard = 0; guard <= lowered.graph.size(); ++guard) {
    const graph::Vertex& v = lowered.graph.vertex(id);
    if (const auto* s = std::get_if<graph::SourceOp>(&v.op)) {
      return s->kind == graph::SourceOp::Kind::kImage;
    }
    if (const auto* f = std::get_if<graph::FileOp>(&v.op); f != nullptr && !f->has_base) {
      return false;
    }
    if (v.inputs.empty()) return false;
    id = v.inputs[0];
  }
  return false;
}

}  // namespace

oci::Image BaseImage() {
  oci::Image img;
  img.created = "2026-01-01T00:00:00Z";
  img.config.env = {"PATH=/usr/local/bin:/usr/bin:/bin"};
  img.config.cmd = std::vector<std::string>{"/bin/sh"};
  img.history = {oci::History{"2026-01-01T00:00:00Z", "fake base layer", "", "", false}};
  return img;
}

std::vector<std::string> Outcome::Cached() const {
  std::vector<std::string> out;
  for (const auto& e : events) {
    if (e.kind == solver::ProgressKind::kCompleted && e.cached) out.push_back(e.vertex->name());
  }
  return out;
}

std::vector<std::string> Outcome::Ran() const {
  std::vector<std::string> out;
  for (const auto& e : events) {
    if (e.kind == solver::ProgressKind::kCompleted && !e.cached) out.push_back(e.vertex->name());
  }
  return out;
}

absl::StatusOr<std::unique_ptr<EngineHarness>> EngineHarness::Create() {
  auto h = std::unique_ptr<EngineHarness>(new EngineHarness());
  KILN_ASSIGN_OR_RETURN(h->dir_, base::TempDir::Create("kiln-engine-suite-"));
  const std::string& root = h->dir_.path();
  for (const char* sub : {"/trees", "/tmp", "/context"}) {
    if (::mkdir((root + sub).c_str(), 0755) != 0) {
      return base::ErrnoError(absl::StrCat("create '", root, sub, "'"));
    }
  }
  h->context_ = root + "/context";
  h->snapshots_ = std::make_unique<snapshotter::InMemorySnapshotter>(root + "/trees");
  h->content_ = std::make_unique<fakes::InMemoryContentStore>();
  h->index_ = std::make_unique<fakes::InMemoryCacheIndex>();
  h->checksums_ = std::make_unique<ContextChecksums>(root + "/checksums");
  h->executor_ = std::make_unique<FakeExecutor>(&h->trees_);
  h->worker_.content = h->content_.get();
  h->worker_.snapshots = h->snapshots_.get();
  h->worker_.driver = "in-memory";
  h->worker_.root = root;
  h->worker_.tmp = root + "/tmp";
  h->worker_.checksums = h->checksums_.get();
  KILN_ASSIGN_OR_RETURN(h->layers_, LayerStore::Open(&h->worker_, root + "/layers"));
  h->seam_ = std::make_unique<SnapshotCacheSeam>(&h->worker_, h->index_.get());
  solver::SolverOptions so;
  so.max_parallelism = 4;
  so.cache = h->seam_.get();
  h->solver_ = std::make_unique<solver::Solver>(so);
  h->resolver_ = std::make_unique<FakeResolver>();
  return h;
}

EngineHarness::~EngineHarness() { solver_.reset(); }

absl::Status EngineHarness::WriteContext(const std::string& rel, std::string_view data,
                                         mode_t mode) {
  base::UniqueFd root(::open(context_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!root) return base::ErrnoError(absl::StrCat("open '", context_, "'"));
  return WriteAt(root.get(), rel, data, mode);
}

absl::Status EngineHarness::SymlinkContext(const std::string& rel, const std::string& target) {
  std::string path = context_ + "/" + rel;
  if (::symlink(target.c_str(), path.c_str()) != 0) {
    return base::ErrnoError(absl::StrCat("symlink '", path, "'"));
  }
  return absl::OkStatus();
}

absl::StatusOr<Outcome> EngineHarness::Build(std::string_view dockerfile, std::string_view ignore,
                                             const std::map<std::string, std::string>& args) {
  LowerOptions lo;
  lo.build_args = args;
  lo.context_excludes = ReadDockerignore(ignore);
  lo.resolver = resolver_.get();
  Outcome out;
  KILN_ASSIGN_OR_RETURN(out.lowered, LowerDockerfileText(dockerfile, lo));

  OpFactory ops;
  RegisterSourceOps(&ops, context_);
  ops.Register<graph::SourceOp>(
      OpKind::kImage, [this](const graph::SourceOp& s, const OpSite&) -> absl::StatusOr<OpRef> {
        return std::make_shared<FakeImageOp>(snapshots_.get(), &trees_, s.manifest_digest,
                                             unpacks_);
      });
  ExecOpDeps exec;
  exec.snapshots = snapshots_.get();
  exec.executor = executor_.get();
  exec.trees = &trees_;
  exec.mounts = {snapshots_.get(), checksums_.get(), worker_.tmp, dir_.path() + "/cachemounts"};
  RegisterExecOp(&ops, std::move(exec));
  RegisterFileOp(&ops, FileOpDeps{snapshots_.get(), &trees_, checksums_.get(), nullptr});
  KILN_ASSIGN_OR_RETURN(std::vector<solver::VertexRef> vertices,
                        ops.MakeVertices(out.lowered.graph, "Dockerfile"));

  solver::ProgressRecorder recorder;
  solver::BuildRequest req;
  req.outputs = {vertices.at(out.lowered.final_vertex)};
  req.progress = recorder.Sink();
  KILN_ASSIGN_OR_RETURN(solver::SolveResult solved, solver_->Solve(req));
  out.events = recorder.Events();
  auto* top = dynamic_cast<const SnapshotResult*>(solved.outputs.at(0).get());
  if (top == nullptr) return absl::InternalError("build: the final step made no filesystem");
  out.top = top->snapshot();
  return out;
}

absl::StatusOr<TreeMap> EngineHarness::TreeOf(const std::string& snapshot) {
  TreeMap out;
  if (snapshot.empty()) return out;
  std::string key = NewSnapshotKey("look");
  KILN_ASSIGN_OR_RETURN(auto mounts, snapshots_->View(key, snapshot));
  absl::Status s = [&]() -> absl::Status {
    KILN_ASSIGN_OR_RETURN(Tree tree, trees_.Open(mounts));
    KILN_RETURN_IF_ERROR(ReadTree(tree.fd(), "", &out));
    return tree.Close();
  }();
  absl::Status removed = snapshots_->Remove(key);
  if (!s.ok()) return s;
  if (!removed.ok()) return removed;
  return out;
}

absl::StatusOr<BuiltImage> EngineHarness::Assemble(const Outcome& o) {
  ImageSpec spec;
  spec.top_snapshot = o.top;
  if (FromImage(o.lowered)) spec.base = BaseImage();
  spec.config = o.lowered.config;
  spec.author = o.lowered.author;
  for (const HistoryEntry& h : o.lowered.history) {
    oci::History oh;
    oh.created_by = h.created_by;
    oh.empty_layer = h.empty_layer;
    spec.history.push_back(std::move(oh));
  }
  spec.compression = std::nullopt;  // the image store's choice: uncompressed layers
  return AssembleImage(worker_, *layers_, spec);
}

absl::StatusOr<oci::Image> EngineHarness::ConfigOf(const BuiltImage& image) {
  KILN_ASSIGN_OR_RETURN(std::string json, content_->ReadAll(image.config_digest));
  return oci::ParseImage(json);
}

int EngineHarness::image_unpacks() const { return unpacks_->load(); }

}  // namespace kiln::engine::testing
