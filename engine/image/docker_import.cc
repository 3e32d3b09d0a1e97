#include "engine/image/docker_import.h"

#include <map>
#include <set>
#include <string>

#include "absl/strings/str_cat.h"
#include "base/status.h"
#include "engine/image/diff_hasher.h"
#include "engine/oci/image.h"
#include "engine/oci/manifest.h"
#include "engine/oci/media_types.h"
#include "engine/oci/reference.h"
#include "nlohmann/json.hpp"

namespace kiln::engine::image::internal {

using base::AsAbsl;

namespace {

struct DockerEntry {
  std::string config;
  std::vector<std::string> repo_tags;
  std::vector<std::string> layers;
};

struct LayerResult {
  base::Digest expected_diff_id;
  oci::Descriptor desc;
};

absl::Status Bad(const ImportSource& src, std::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrCat("import '", src.path(), "': manifest.json: ", AsAbsl(why)));
}

absl::StatusOr<std::vector<DockerEntry>> ParseDockerManifest(const ImportSource& src,
                                                             std::string_view text) {
  nlohmann::json j = nlohmann::json::parse(text.begin(), text.end(), nullptr, false);
  if (j.is_discarded() || !j.is_array()) return Bad(src, "expected a JSON array of images");
  std::vector<DockerEntry> out;
  for (const auto& e : j) {
    DockerEntry d;
    auto config = e.find("Config");
    if (!e.is_object() || config == e.end() || !config->is_string()) {
      return Bad(src, "every image needs a \"Config\" file name");
    }
    d.config = config->get<std::string>();
    auto layers = e.find("Layers");
    if (layers == e.end() || !layers->is_array()) return Bad(src, "\"Layers\" must be an array");
    for (const auto& l : *layers) {
      if (!l.is_string()) return Bad(src, "\"Layers\" must hold file names");
      d.layers.push_back(l.get<std::string>());
    }
    auto tags = e.find("RepoTags");
    if (tags != e.end() && tags->is_array()) {
      for (const auto& t : *tags) {
        if (t.is_string()) d.repo_tags.push_back(t.get<std::string>());
      }
    }
    out.push_back(std::move(d));
  }
  if (out.empty()) return Bad(src, "lists no images");
  return out;
}

// "<64 hex>.json" or "blobs/sha256/<64 hex>": the digest the name promises, if any.
std::string DigestInName(const std::string& name) {
  std::string base = name.substr(name.rfind('/') + 1);
  if (base.size() == 69 && base.ends_with(".json")) base.resize(64);
  if (base.size() != 64 || base.find_first_not_of("0123456789abcdef") != std::string::npos)
    return "";
  return "sha256:" + base;
}

// Streams the layer files into the store; each must decompress to its expected diff_id.
absl::Status IngestLayers(cache::ContentStore& store, ImportSource& src,
                          std::map<std::string, LayerResult>& layers) {
  std::set<std::string> names;
  for (const auto& [n, l] : layers) names.insert(n);
  return src.Stream(names, [&](const std::string& name, const ChunkReader& read) {
    auto found = layers.find(name);
    if (found == layers.end()) {
      return absl::InternalError(absl::StrCat("import '", src.path(), "': unexpected file ", name));
    }
    LayerResult& l = found->second;
    KILN_ASSIGN_OR_RETURN(auto writer, store.Writer(absl::StrCat("import ", name)));
    DiffHasher hasher;
    std::string buf(1 << 20, '\0');
    while (true) {
      KILN_ASSIGN_OR_RETURN(size_t n, read(buf.data(), buf.size()));
      if (n == 0) break;
      KILN_RETURN_IF_ERROR(writer->Write(buf.data(), n));
      absl::Status st = hasher.Update(buf.data(), n);
      if (!st.ok()) return base::Annotate(st, absl::StrCat("import '", src.path(), "': ", name));
    }
    auto diff_id = hasher.Finish();
    if (!diff_id.ok()) {
      return base::Annotate(diff_id.status(), absl::StrCat("import '", src.path(), "': ", name));
    }
    if (*diff_id != l.expected_diff_id) {
      return absl::DataLossError(absl::StrCat("import '", src.path(), "': layer ", name,
                                              " has diff_id ", diff_id->str(),
                                              " but the config lists ", l.expected_diff_id.str(),
                                              " (the file is corrupt or was altered)"));
    }
    l.desc.media_type = std::string(snapshotter::MediaTypeFor(hasher.compression()));
    l.desc.size = writer->Offset();
    l.desc.digest = writer->CurrentDigest();
    return writer->Commit(l.desc.digest).status();
  });
}

// Reads and checks every image's config; fills `layers` with the expected diff_id of each
// (canonical) layer file. Returns the config bytes, one per entry.
absl::StatusOr<std::vector<std::string>> LoadConfigs(ImportSource& src,
                                                     const std::vector<DockerEntry>& entries,
                                                     const ImportOptions& options,
                                                     std::map<std::string, LayerResult>& layers) {
  std::vector<std::string> configs;
  for (const auto& e : entries) {
    if (options.name.empty() && e.repo_tags.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("import '", src.path(), "': image ", e.config,
                       " has no RepoTags; give it a name with --name REF"));
    }
    KILN_ASSIGN_OR_RETURN(std::string config, src.ReadSmall(e.config));
    std::string promised = DigestInName(e.config);
    if (!promised.empty() && base::Digest::Of(config).str() != promised) {
      return absl::DataLossError(
          absl::StrCat("import '", src.path(), "': ", e.config,
                       " does not match its digest (the file is corrupt or was altered)"));
    }
    std::string what = absl::StrCat("import '", src.path(), "': ", e.config);
    KILN_ASSIGN_OR_RETURN(oci::Image img, oci::ParseImage(config, what));
    if (img.diff_ids.size() != e.layers.size()) {
      return Bad(src, absl::StrCat(e.config, " lists ", img.diff_ids.size(),
                                   " diff_ids but the image has ", e.layers.size(), " layers"));
    }
    for (size_t i = 0; i < e.layers.size(); ++i) {
      auto [it, fresh] =
          layers.try_emplace(src.Canonical(e.layers[i]), LayerResult{img.diff_ids[i], {}});
      if (!fresh && it->second.expected_diff_id != img.diff_ids[i]) {
        return Bad(src, absl::StrCat("layer ", e.layers[i], " is listed with two diff_ids"));
      }
    }
    configs.push_back(std::move(config));
  }
  return configs;
}

// Stores the config and an OCI manifest for one entry whose layers are already stored.
absl::StatusOr<ImportedImage> PublishEntry(cache::ContentStore& store, ImportSource& src,
                                           const DockerEntry& e, const std::string& config,
                                           const std::map<std::string, LayerResult>& layers,
                                           const ImportOptions& options) {
  KILN_ASSIGN_OR_RETURN(cache::BlobInfo config_info, store.Put(config));
  oci::Manifest m;
  m.media_type = std::string(oci::kMediaTypeOciManifest);
  m.config = {std::string(oci::kMediaTypeOciConfig), config_info.digest, config_info.size};
  for (const auto& name : e.layers) {
    auto found = layers.find(src.Canonical(name));
    if (found == layers.end()) {
      return absl::InternalError(
          absl::StrCat("import '", src.path(), "': layer ", name, " was not read"));
    }
    m.layers.push_back(found->second.desc);
  }
  std::string bytes = oci::SerializeManifest(m);
  KILN_ASSIGN_OR_RETURN(cache::BlobInfo man_info, store.Put(bytes));
  ImportedImage image;
  image.manifest = {std::string(oci::kMediaTypeOciManifest), man_info.digest, man_info.size};
  auto img = oci::ParseImage(config);
  if (img.ok()) image.manifest.platform = img->platform();
  std::vector<std::string> names =
      options.name.empty() ? e.repo_tags : std::vector<std::string>{options.name};
  for (const auto& n : names) {
    KILN_ASSIGN_OR_RETURN(oci::Reference ref, oci::NormalizeReference(n));
    image.refs.push_back(ref.String());
  }
  return image;
}

}  // namespace

absl::StatusOr<std::vector<ImportedImage>> ImportDockerArchive(cache::ContentStore& store,
                                                               ImportSource& src,
                                                               const ImportOptions& options) {
  KILN_ASSIGN_OR_RETURN(std::string text, src.ReadSmall("manifest.json"));
  KILN_ASSIGN_OR_RETURN(std::vector<DockerEntry> entries, ParseDockerManifest(src, text));
  if (!options.name.empty() && entries.size() > 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("import '", src.path(),
                     "': --name needs an input with one image, this one has ", entries.size()));
  }
  std::map<std::string, LayerResult> layers;
  KILN_ASSIGN_OR_RETURN(std::vector<std::string> configs,
                        LoadConfigs(src, entries, options, layers));
  KILN_RETURN_IF_ERROR(IngestLayers(store, src, layers));
  std::vector<ImportedImage> out;
  for (size_t i = 0; i < entries.size(); ++i) {
    KILN_ASSIGN_OR_RETURN(ImportedImage image,
                          PublishEntry(store, src, entries[i], configs[i], layers, options));
    out.push_back(std::move(image));
  }
  return out;
}

}  // namespace kiln::engine::image::internal
