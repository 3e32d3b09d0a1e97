// GC reachability end to end (issue 13): removed images leave nothing behind after
// `prune --all` (no manifest, config, layer blob, snapshot or layer memo), and a kept image
// keeps every blob it reaches, base layers shared with a removed image included.
#include <dirent.h>
#include <sys/stat.h>

#include <memory>
#include <set>
#include <string>
#include <vector>

#include "cache/fs_content_store.h"
#include "nlohmann/json.hpp"
#include "snapshotter/probe.h"
#include "tests/integration/engine_fixture.h"

namespace kiln::testing {
namespace {

using engine::ExportSpec;

// Every regular file under `dir` (recursively), as paths.
void Files(const std::string& dir, std::vector<std::string>* out) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return;
  while (struct dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    std::string path = dir + "/" + name;
    struct stat st;
    if (::lstat(path.c_str(), &st) != 0) continue;
    if (S_ISDIR(st.st_mode)) {
      Files(path, out);
    } else {
      out->push_back(path);
    }
  }
  ::closedir(d);
}

class ImageGcTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(Exists(ImagesDir() + "/busybox-1.35/.kiln-complete"))
        << "base image busybox-1.35 missing in " << ImagesDir() << ": run tools/images/build.sh";
    auto root = base::TempDir::Create("kiln-gc-e2e-");
    ASSERT_TRUE(root.ok()) << root.status();
    root_ = std::make_unique<base::TempDir>(std::move(*root));
    state_ = root_->path() + "/state";
    engine::EngineOptions o;
    o.root = state_;
    auto e = engine::Engine::Open(o);
    ASSERT_TRUE(e.ok()) << e.status();
    engine_ = std::move(*e);
    auto refs = engine_->ImportImage(ImagesDir() + "/busybox-1.35", "busybox:1.35");
    ASSERT_TRUE(refs.ok()) << refs.status();
  }

  std::string Blob(const std::string& digest) {
    return ReadFile(state_ + "/content/blobs/sha256/" + digest.substr(digest.find(':') + 1));
  }
  bool HasBlob(const std::string& digest) {
    return Exists(state_ + "/content/blobs/sha256/" + digest.substr(digest.find(':') + 1));
  }

  // Builds FROM busybox with a RUN into image `name` and returns its manifest digest.
  std::string BuildImage(const std::string& name, const std::string& tag) {
    auto dir = base::TempDir::Create("kiln-gc-ctx-");
    EXPECT_TRUE(dir.ok());
    if (!dir.ok()) return "";
    WriteFile(dir->path() + "/Dockerfile", "FROM busybox:1.35\nRUN echo " + tag + " > /tag\n");
    engine::BuildRequest req;
    req.context_dir = dir->path();
    req.exports = {engine::ImageOutput{{name}}};
    auto r = engine_->Build(req, nullptr, nullptr);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? r->manifest_digest.str() : "";
  }

  std::string ManifestOf(const std::string& ref) {
    auto list = engine_->ListImages();
    EXPECT_TRUE(list.ok()) << list.status();
    if (!list.ok()) return "";
    for (const auto& s : *list) {
      if (s.ref.find(ref) != std::string::npos) return s.manifest_digest.str();
    }
    ADD_FAILURE() << "no image " << ref;
    return "";
  }

  // The hex of every digest an image (manifest or index) names: its manifests, configs,
  // layers, diff ids and chain ids.
  std::set<std::string> Digests(const std::string& top) {
    std::set<std::string> out;
    std::vector<std::string> pending = {top};
    while (!pending.empty()) {
      std::string d = pending.back();
      pending.pop_back();
      out.insert(d.substr(d.find(':') + 1));
      nlohmann::json j = nlohmann::json::parse(Blob(d), nullptr, false);
      EXPECT_TRUE(j.is_object()) << "unreadable " << d;
      if (!j.is_object()) continue;
      if (j.contains("manifests")) {
        for (const auto& m : j["manifests"]) pending.push_back(m.value("digest", ""));
        continue;
      }
      std::string config = j["config"].value("digest", "");
      out.insert(config.substr(config.find(':') + 1));
      for (const auto& l : j["layers"]) {
        std::string ld = l.value("digest", "");
        out.insert(ld.substr(ld.find(':') + 1));
      }
      nlohmann::json c = nlohmann::json::parse(Blob(config), nullptr, false);
      EXPECT_TRUE(c.is_object()) << "unreadable config " << config;
      if (!c.is_object()) continue;
      std::string chain;
      for (const auto& id : c["rootfs"]["diff_ids"]) {
        std::string diff = id.get<std::string>();
        out.insert(diff.substr(diff.find(':') + 1));
        chain = chain.empty() ? diff : base::Digest::Of(chain + " " + diff).str();
        out.insert(chain.substr(chain.find(':') + 1));
      }
    }
    return out;
  }

  // Files under the state root whose name, or (outside LMDB files, whose free pages keep old
  // bytes; the store walks below check those stores) content, mentions one of `hexes`.
  std::vector<std::string> Mentions(const std::set<std::string>& hexes) {
    std::vector<std::string> files, out;
    Files(state_, &files);
    for (const std::string& f : files) {
      bool lmdb = f.ends_with(".mdb") || f.ends_with("/metadata.db");
      std::string content = lmdb ? "" : ReadFile(f);
      for (const std::string& h : hexes) {
        if (f.find(h) != std::string::npos || content.find(h) != std::string::npos) {
          out.push_back(f + " mentions " + h.substr(0, 12));
          break;
        }
      }
    }
    return out;
  }

  absl::Status PruneAll() {
    engine::PruneOptions p;
    p.all = true;
    return engine_->Prune(p).status();
  }

  std::unique_ptr<base::TempDir> root_;
  std::string state_;
  std::unique_ptr<engine::Engine> engine_;
};

TEST_F(ImageGcTest, ImportRmAndPruneAllLeaveNoFileOfTheImages) {
  std::string built = BuildImage("e2e/gc:1", "gone");
  ASSERT_FALSE(built.empty());
  engine::Engine::RunOptions ro;
  ro.args = {"cat", "/tag"};
  ro.timeout = absl::Seconds(120);
  auto rc = engine_->RunImage("e2e/gc:1", ro);  // unpacks the image's own snapshots too
  ASSERT_TRUE(rc.ok()) << rc.status();
  EXPECT_EQ(*rc, 0);
  std::set<std::string> hexes = Digests(ManifestOf("busybox:1.35"));
  std::set<std::string> mine = Digests(built);
  hexes.insert(mine.begin(), mine.end());
  ASSERT_GE(hexes.size(), 8u);
  ASSERT_FALSE(Mentions(hexes).empty()) << "the check must see the images while they exist";

  ASSERT_TRUE(engine_->RemoveImage("e2e/gc:1").ok());
  ASSERT_TRUE(engine_->RemoveImage("busybox:1.35").ok());
  ASSERT_TRUE(PruneAll().ok());

  std::vector<std::string> left = Mentions(hexes);
  EXPECT_TRUE(left.empty()) << left.size() << " leftovers, first: " << left.front();
  auto du = engine_->DiskUsage();
  ASSERT_TRUE(du.ok()) << du.status();
  EXPECT_TRUE(du->empty()) << du->size() << " records left";
  engine_.reset();  // close the engine, then look at its stores directly

  auto content = cache::OpenFsContentStore(state_ + "/content");
  ASSERT_TRUE(content.ok()) << content.status();
  std::vector<std::string> blobs;
  ASSERT_TRUE(
      (*content)->Walk([&](const cache::BlobInfo& b) { blobs.push_back(b.digest.str()); }).ok());
  EXPECT_TRUE(blobs.empty()) << blobs.size() << " blobs left, first: " << blobs.front();
  auto snaps = snapshotter::OpenSnapshotter(state_ + "/snapshots", snapshotter::Driver::kAuto);
  ASSERT_TRUE(snaps.ok()) << snaps.status();
  std::vector<std::string> names;
  ASSERT_TRUE(snaps->snapshotter
                  ->Walk([&](const snapshotter::Info& i) {
                    names.push_back(i.name);
                    return absl::OkStatus();
                  })
                  .ok());
  EXPECT_TRUE(names.empty()) << names.size() << " snapshots left, first: " << names.front();
}

TEST_F(ImageGcTest, AKeptImageKeepsEveryBlobItReachesAndStillRuns) {
  std::string kept = BuildImage("e2e/kept:1", "kept");
  std::string gone = BuildImage("e2e/gone:1", "gone");
  ASSERT_FALSE(kept.empty() || gone.empty());
  std::set<std::string> kept_hexes = Digests(kept);
  std::set<std::string> gone_hexes = Digests(gone);
  std::set<std::string> only_gone;
  for (const std::string& h : gone_hexes) {
    if (!kept_hexes.contains(h)) only_gone.insert(h);
  }
  ASSERT_GE(only_gone.size(), 3u) << "its manifest, config and RUN layer";
  ASSERT_TRUE(engine_->RemoveImage("e2e/gone:1").ok());
  ASSERT_TRUE(engine_->RemoveImage("busybox:1.35").ok());
  ASSERT_TRUE(PruneAll().ok());

  nlohmann::json m = nlohmann::json::parse(Blob(kept), nullptr, false);
  ASSERT_TRUE(m.is_object());
  std::vector<std::string> want = {kept, m["config"].value("digest", "")};
  for (const auto& l : m["layers"]) want.push_back(l.value("digest", ""));
  ASSERT_EQ(want.size(), 4u) << "manifest, config, busybox's layer and the RUN's";
  for (const std::string& d : want) EXPECT_TRUE(HasBlob(d)) << "kept image lost " << d;
  EXPECT_FALSE(HasBlob(gone)) << "the removed image's manifest";
  std::vector<std::string> left = Mentions(only_gone);
  EXPECT_TRUE(left.empty()) << left.size() << " leftovers, first: " << left.front();

  engine::Engine::RunOptions ro;
  std::string out;
  ro.args = {"cat", "/tag"};
  ro.timeout = absl::Seconds(120);
  ro.on_stdout = [&](std::string_view s) { out.append(s); };
  auto rc = engine_->RunImage("e2e/kept:1", ro);
  ASSERT_TRUE(rc.ok()) << rc.status();
  EXPECT_EQ(*rc, 0);
  EXPECT_EQ(out, "kept\n");
}

}  // namespace
}  // namespace kiln::testing
