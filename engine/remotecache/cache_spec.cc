#include "engine/remotecache/cache_spec.h"

#include "absl/strings/str_cat.h"
#include "base/status.h"

namespace kiln::engine::remotecache {
namespace {

absl::Status Bad(std::string_view flag, const CacheSpecText& spec, std::string_view what) {
  return absl::InvalidArgumentError(
      absl::StrCat("bad ", base::AsAbsl(flag), " type=", spec.type, ": ", base::AsAbsl(what)));
}

absl::StatusOr<CacheType> TypeOf(std::string_view flag, const CacheSpecText& spec) {
  if (spec.type == "local") return CacheType::kLocal;
  if (spec.type == "registry") return CacheType::kRegistry;
  return Bad(flag, spec, "unknown type, expected type=local or type=registry");
}

absl::StatusOr<bool> Bool(std::string_view flag, const CacheSpecText& spec, const std::string& key,
                          const std::string& value) {
  if (value == "true") return true;
  if (value == "false") return false;
  return Bad(flag, spec, absl::StrCat(key, "=", value, ", expected true or false"));
}

}  // namespace

std::string CacheImport::Source() const {
  return type == CacheType::kLocal ? "local:" + src : "registry:" + ref;
}

absl::StatusOr<CacheExport> ParseCacheExport(const CacheSpecText& spec) {
  constexpr std::string_view kFlag = "--export-cache";
  CacheExport out;
  auto type = TypeOf(kFlag, spec);
  if (!type.ok()) return type.status();
  out.type = *type;
  for (const auto& [key, value] : spec.attrs) {
    if (key == "dest" && out.type == CacheType::kLocal) {
      out.dest = value;
    } else if (key == "ref" && out.type == CacheType::kRegistry) {
      out.ref = value;
    } else if (key == "mode") {
      if (value != "min" && value != "max") {
        return Bad(kFlag, spec, absl::StrCat("mode=", value, ", expected min or max"));
      }
      out.mode = value == "max" ? CacheMode::kMax : CacheMode::kMin;
    } else if (key == "compression") {
      if (value != "gzip" && value != "zstd" && value != "uncompressed") {
        return Bad(kFlag, spec,
                   absl::StrCat("compression=", value, ", expected gzip, zstd or uncompressed"));
      }
      out.compression = value;
    } else if (key == "ignore-error" || key == "on-failure") {
      auto b = Bool(kFlag, spec, key, value);
      if (!b.ok()) return b.status();
      (key == "ignore-error" ? out.ignore_error : out.on_failure) = *b;
    } else {
      return Bad(kFlag, spec,
                 absl::StrCat("unknown field '", key, "', expected ",
                              out.type == CacheType::kLocal ? "dest=DIR" : "ref=REG/REPO:TAG",
                              ", mode=, compression=, ignore-error=, on-failure="));
    }
  }
  if (out.type == CacheType::kLocal && (out.dest.empty() || out.dest[0] != '/')) {
    return Bad(kFlag, spec, "dest= must be an absolute directory");
  }
  if (out.type == CacheType::kRegistry && out.ref.empty()) {
    return Bad(kFlag, spec, "no ref=, expected ref=REG/REPO:TAG");
  }
  return out;
}

absl::StatusOr<CacheImport> ParseCacheImport(const CacheSpecText& spec) {
  constexpr std::string_view kFlag = "--import-cache";
  CacheImport out;
  auto type = TypeOf(kFlag, spec);
  if (!type.ok()) return type.status();
  out.type = *type;
  for (const auto& [key, value] : spec.attrs) {
    if (key == "src" && out.type == CacheType::kLocal) {
      out.src = value;
    } else if (key == "ref" && out.type == CacheType::kRegistry) {
      out.ref = value;
    } else {
      return Bad(kFlag, spec,
                 absl::StrCat("unknown field '", key, "', expected ",
                              out.type == CacheType::kLocal ? "src=DIR" : "ref=REG/REPO:TAG"));
    }
  }
  if (out.type == CacheType::kLocal && (out.src.empty() || out.src[0] != '/')) {
    return Bad(kFlag, spec, "src= must be an absolute directory");
  }
  if (out.type == CacheType::kRegistry && out.ref.empty()) {
    return Bad(kFlag, spec, "no ref=, expected ref=REG/REPO:TAG");
  }
  return out;
}

CacheSpecText ToText(const CacheExport& spec) {
  CacheSpecText t;
  if (spec.type == CacheType::kLocal) {
    t.type = "local";
    t.attrs["dest"] = spec.dest;
  } else {
    t.type = "registry";
    t.attrs["ref"] = spec.ref;
  }
  t.attrs["mode"] = spec.mode == CacheMode::kMax ? "max" : "min";
  t.attrs["compression"] = spec.compression;
  t.attrs["ignore-error"] = spec.ignore_error ? "true" : "false";
  t.attrs["on-failure"] = spec.on_failure ? "true" : "false";
  return t;
}

CacheSpecText ToText(const CacheImport& spec) {
  CacheSpecText t;
  if (spec.type == CacheType::kLocal) {
    t.type = "local";
    t.attrs["src"] = spec.src;
  } else {
    t.type = "registry";
    t.attrs["ref"] = spec.ref;
  }
  return t;
}

}  // namespace kiln::engine::remotecache
