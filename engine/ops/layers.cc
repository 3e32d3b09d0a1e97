#include "engine/ops/layers.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "base/fs.h"
#include "base/status.h"
#include "base/unique_fd.h"
#include "nlohmann/json.hpp"
#include "snapshotter/diff/differ.h"
#include "snapshotter/diff/sink.h"

namespace kiln::engine {
namespace {

// Streams a layer into the content store.
class ContentSink : public snapshotter::ByteSink {
 public:
  explicit ContentSink(cache::ContentWriter* w) : w_(w) {}
  absl::Status Write(const void* data, size_t len) override { return w_->Write(data, len); }

 private:
  cache::ContentWriter* w_;
};

const char* CompressionName(snapshotter::Compression c) {
  switch (c) {
    case snapshotter::Compression::kNone:
      return "none";
    case snapshotter::Compression::kGzip:
      return "gzip";
    case snapshotter::Compression::kZstd:
      return "zstd";
  }
  return "?";
}

// The layer a memo's JSON records, or nullopt.
std::optional<LayerInfo> ParseMemo(const std::string& text) {
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return std::nullopt;
  auto d = base::Digest::Parse(j.value("digest", ""));
  auto id = base::Digest::Parse(j.value("diff_id", ""));
  if (!d.ok() || !id.ok()) return std::nullopt;
  LayerInfo l;
  l.digest = *d;
  l.diff_id = *id;
  l.size = j.value("size", int64_t{0});
  l.media_type = j.value("media_type", "");
  return l;
}

// The snapshot of memo file `name` ("<snapshot>.<compression>[.orig][.epochN].json"), or ""
// for a file that is not a memo (e.g. a temp file).
std::string MemoSnapshot(const std::string& name) {
  if (name.size() < 5 || name.compare(name.size() - 5, 5, ".json") != 0) return "";
  size_t best = std::string::npos;
  for (const char* c : {".none.", ".gzip.", ".zstd."}) {
    size_t at = name.rfind(c);
    if (at != std::string::npos && (best == std::string::npos || at > best)) best = at;
  }
  return best == std::string::npos ? "" : name.substr(0, best);
}

std::string ReadText(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

absl::StatusOr<std::unique_ptr<LayerStore>> LayerStore::Open(const Worker* worker,
                                                             std::string dir) {
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return base::ErrnoError(absl::StrCat("create layer memo dir '", dir, "'"));
  }
  return std::unique_ptr<LayerStore>(new LayerStore(worker, std::move(dir)));
}

std::string LayerStore::MemoPath(const std::string& snapshot, snapshotter::Compression c,
                                 std::optional<int64_t> epoch, bool original) const {
  std::string p = absl::StrCat(dir_, "/", snapshot, ".", CompressionName(c));
  if (original) p += ".orig";
  if (epoch) absl::StrAppend(&p, ".epoch", *epoch);
  return p + ".json";
}

std::optional<LayerInfo> LayerStore::ReadMemo(const std::string& path) const {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::stringstream ss;
  ss << in.rdbuf();
  std::optional<LayerInfo> l = ParseMemo(ss.str());
  if (!l.has_value() || !worker_->content->Has(l->digest)) return std::nullopt;  // remake
  return l;
}

absl::Status LayerStore::WriteMemo(const std::string& path, const LayerInfo& l) const {
  nlohmann::json j = {{"digest", l.digest.str()},
                      {"diff_id", l.diff_id.str()},
                      {"size", l.size},
                      {"media_type", l.media_type}};
  base::WriteFileOptions o;
  o.mode = 0666;   // less the umask, as std::ofstream made it
  o.sync = false;  // a memo is a cache: a lost one is remade
  return base::WriteFileAtomically(path, j.dump(), o);
}

absl::Status LayerStore::Record(const std::string& snapshot, const LayerInfo& layer) {
  auto c = snapshotter::CompressionForMediaType(layer.media_type);
  return WriteMemo(MemoPath(snapshot, c.ok() ? *c : snapshotter::Compression::kNone, std::nullopt,
                            /*original=*/true),
                   layer);
}

absl::Status LayerStore::WalkMemos(const std::function<void(const Memo&)>& fn) const {
  base::UniqueFd dir(::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir) return base::ErrnoError(absl::StrCat("open layer memo dir '", dir_, "'"));
  KILN_ASSIGN_OR_RETURN(std::vector<std::string> names,
                        base::ListDirNames(dir.get(), /*sorted=*/false, dir_));
  std::vector<Memo> memos;
  for (const std::string& name : names) {
    std::string snapshot = MemoSnapshot(name);
    if (snapshot.empty()) continue;
    memos.push_back(Memo{snapshot, name, ParseMemo(ReadText(absl::StrCat(dir_, "/", name)))});
  }
  for (const Memo& m : memos) fn(m);
  return absl::OkStatus();
}

absl::Status LayerStore::RemoveMemoFiles(const std::string& snapshot) {
  std::vector<std::string> files;
  KILN_RETURN_IF_ERROR(WalkMemos([&](const Memo& m) {
    if (m.snapshot == snapshot) files.push_back(m.file);
  }));
  base::UniqueFd dir(::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir) return base::ErrnoError(absl::StrCat("open layer memo dir '", dir_, "'"));
  for (const std::string& f : files) {
    if (::unlinkat(dir.get(), f.c_str(), 0) != 0 && errno != ENOENT) {
      return base::ErrnoError(absl::StrCat("remove layer memo '", dir_, "/", f, "'"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> LayerStore::Chain(const std::string& snapshot) {
  std::vector<std::string> chain;
  std::string cur = snapshot;
  while (!cur.empty()) {
    KILN_ASSIGN_OR_RETURN(snapshotter::Info info, worker_->snapshots->Stat(cur));
    chain.push_back(cur);
    cur = info.parent;
    if (chain.size() > 100000) return absl::InternalError("snapshot chain loops");
  }
  return std::vector<std::string>(chain.rbegin(), chain.rend());
}

absl::StatusOr<LayerInfo> LayerStore::LayerOf(const std::string& snapshot,
                                              std::optional<snapshotter::Compression> c,
                                              std::optional<int64_t> epoch) {
  using snapshotter::Compression;
  static constexpr Compression kAll[] = {Compression::kNone, Compression::kZstd,
                                         Compression::kGzip};
  // An original blob (an unpacked image layer) is reused whatever compression is asked, as
  // BuildKit reuses a base image's blobs; with an epoch only in the asked compression.
  for (Compression rc : kAll) {
    if (epoch && c && rc != *c) continue;
    if (auto l = ReadMemo(MemoPath(snapshot, rc, std::nullopt, /*original=*/true))) return *l;
  }
  // A layer this store made: in the asked compression, or any when there is no preference.
  for (Compression rc : kAll) {
    if (c && rc != *c) continue;
    if (auto l = ReadMemo(MemoPath(snapshot, rc, epoch))) return *l;
  }
  return MakeLayer(snapshot, c.value_or(Compression::kNone), epoch);
}

absl::StatusOr<LayerInfo> LayerStore::MakeLayer(const std::string& snapshot,
                                                snapshotter::Compression c,
                                                std::optional<int64_t> epoch) {
  KILN_ASSIGN_OR_RETURN(snapshotter::Info info, worker_->snapshots->Stat(snapshot));
  std::string upper_key = NewSnapshotKey("diff");
  std::string lower_key = NewSnapshotKey("diff");
  KILN_ASSIGN_OR_RETURN(auto upper, worker_->snapshots->View(upper_key, snapshot));
  absl::Cleanup remove_upper = [&] { (void)worker_->snapshots->Remove(upper_key); };
  std::vector<base::Mount> lower;
  bool have_lower = !info.parent.empty();
  if (have_lower) {
    KILN_ASSIGN_OR_RETURN(lower, worker_->snapshots->View(lower_key, info.parent));
  }
  absl::Cleanup remove_lower = [&] {
    if (have_lower) (void)worker_->snapshots->Remove(lower_key);
  };
  snapshotter::DiffOptions opts;
  opts.encoder.compression = c;
  opts.source_date_epoch = epoch;
  KILN_ASSIGN_OR_RETURN(auto writer, worker_->content->PrehashedWriter("layer-" + snapshot));
  ContentSink sink(writer.get());
  absl::StatusOr<snapshotter::LayerDescriptor> desc;
  // Overlay fast path: the view's top lower dir is this snapshot's own layer, and the rest
  // are exactly the parent's.
  std::vector<std::string> ul, ll;
  for (const auto& m : upper) {
    for (std::string& d : base::OverlayOption(m, "lowerdir")) ul.push_back(std::move(d));
  }
  for (const auto& m : lower) {
    for (std::string& d : base::OverlayOption(m, "lowerdir")) ll.push_back(std::move(d));
  }
  if (worker_->driver == "overlay" && upper.size() == 1 && upper[0].type == "overlay" &&
      !ul.empty() && std::vector<std::string>(ul.begin() + 1, ul.end()) == ll && !ll.empty()) {
    desc = snapshotter::DiffUpperDir(ul[0], opts, &sink);
  } else if (worker_->driver == "overlay" && !have_lower && upper.size() == 1 &&
             upper[0].type == "bind") {
    desc = snapshotter::DiffUpperDir(upper[0].source, opts, &sink);
  } else {
    desc = snapshotter::DiffMounts(ForUserXattr(lower), ForUserXattr(upper), opts, &sink);
  }
  if (!desc.ok()) return desc.status();
  KILN_ASSIGN_OR_RETURN(cache::BlobInfo blob, writer->Commit(desc->digest));
  LayerInfo l{desc->digest, desc->diff_id, blob.size, desc->media_type};
  KILN_RETURN_IF_ERROR(WriteMemo(MemoPath(snapshot, c, epoch), l));
  return l;
}

}  // namespace kiln::engine
