#include "engine/exporters/output.h"

#include <string_view>
#include <type_traits>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "base/status.h"
#include "engine/oci/reference.h"

namespace kiln::engine {
namespace {

template <class>
inline constexpr bool kAlwaysFalse = false;

absl::Status Invalid(const ExportSpec& spec, std::string_view what) {
  return absl::InvalidArgumentError(
      absl::StrCat("--output type=", spec.type, ": ", base::AsAbsl(what)));
}

// The value of `key`, or "" when absent.
std::string Attr(const ExportSpec& spec, const std::string& key) {
  auto it = spec.attrs.find(key);
  return it == spec.attrs.end() ? "" : it->second;
}

absl::Status CheckKeys(const ExportSpec& spec, const std::vector<std::string>& allowed) {
  for (const auto& [key, value] : spec.attrs) {
    bool known = false;
    for (const std::string& a : allowed) known = known || a == key;
    if (!known) {
      return Invalid(spec, absl::StrCat("unknown key '", key, "' for type=", spec.type,
                                        "; expected one of ", absl::StrJoin(allowed, ", ")));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::optional<OutputCompression>> ParseCompression(const ExportSpec& spec) {
  auto it = spec.attrs.find("compression");
  if (it == spec.attrs.end()) return std::nullopt;
  if (it->second == "gzip") return OutputCompression::kGzip;
  if (it->second == "zstd") return OutputCompression::kZstd;
  if (it->second == "uncompressed") return OutputCompression::kUncompressed;
  return absl::InvalidArgumentError(
      absl::StrCat("--output type=", spec.type, ",compression=", it->second,
                   ": unknown compression; expected gzip, zstd or uncompressed"));
}

// `key`= in Go's strconv.ParseBool spellings, as buildctl accepts them; true when absent.
absl::StatusOr<bool> ParseBool(const ExportSpec& spec, const std::string& key) {
  auto it = spec.attrs.find(key);
  if (it == spec.attrs.end()) return true;
  const std::string& v = it->second;
  if (v == "1" || v == "t" || v == "T" || v == "true" || v == "TRUE" || v == "True") return true;
  if (v == "0" || v == "f" || v == "F" || v == "false" || v == "FALSE" || v == "False") {
    return false;
  }
  return Invalid(spec, absl::StrCat("bad ", key, "='", v, "'; expected true or false"));
}

absl::StatusOr<std::string> Dest(const ExportSpec& spec, std::string_view what) {
  std::string dest = Attr(spec, "dest");
  if (dest.empty()) {
    return Invalid(spec, absl::StrCat("missing dest=", base::AsAbsl(what),
                                      "; expected type=", spec.type, ",dest=", base::AsAbsl(what)));
  }
  if (dest[0] != '/') {
    return Invalid(spec, absl::StrCat("dest '", dest, "' is relative; expected an absolute path"));
  }
  return dest;
}

// An archive carries one ref name; "a,b" is rejected.
absl::StatusOr<std::string> SingleName(const ExportSpec& spec) {
  std::string name = Attr(spec, "name");
  if (name.find(',') != std::string::npos) {
    return Invalid(spec, absl::StrCat("name '", name, "' holds several names; expected one"));
  }
  return name;
}

// type=image (push=true|false) and type=registry (push=true, no push= key).
absl::StatusOr<Output> ParseImage(const ExportSpec& spec) {
  bool registry = spec.type == "registry";
  KILN_RETURN_IF_ERROR(
      CheckKeys(spec, registry ? std::vector<std::string>{"name", "compression"}
                               : std::vector<std::string>{"name", "compression", "push"}));
  ImageOutput out;
  for (absl::string_view n : absl::StrSplit(Attr(spec, "name"), ',', absl::SkipWhitespace())) {
    std::string name(n);
    if (absl::Status s = oci::NormalizeReference(name).status(); !s.ok()) {
      return Invalid(spec, absl::StrCat("bad name '", name, "': ", s.message(),
                                        "; expected an image reference such as host/repo:tag"));
    }
    out.names.push_back(std::move(name));
  }
  if (out.names.empty()) {
    return Invalid(spec, absl::StrCat("missing name=REF; expected type=", spec.type, ",name=REF"));
  }
  KILN_ASSIGN_OR_RETURN(out.compression, ParseCompression(spec));
  out.push = registry;
  if (spec.attrs.contains("push")) {
    KILN_ASSIGN_OR_RETURN(out.push, ParseBool(spec, "push"));
  }
  return out;
}

absl::StatusOr<Output> ParseOci(const ExportSpec& spec) {
  KILN_RETURN_IF_ERROR(CheckKeys(spec, {"dest", "name", "compression", "tar"}));
  KILN_ASSIGN_OR_RETURN(bool tar, ParseBool(spec, "tar"));
  KILN_ASSIGN_OR_RETURN(std::string dest, Dest(spec, tar ? "PATH" : "DIR"));
  KILN_ASSIGN_OR_RETURN(std::string name, SingleName(spec));
  KILN_ASSIGN_OR_RETURN(std::optional<OutputCompression> compression, ParseCompression(spec));
  if (tar) return OciArchiveOutput{std::move(dest), std::move(name), compression};
  return OciLayoutOutput{std::move(dest), std::move(name), compression};
}

absl::StatusOr<Output> ParseDocker(const ExportSpec& spec) {
  KILN_RETURN_IF_ERROR(CheckKeys(spec, {"dest", "name", "compression", "tar"}));
  KILN_ASSIGN_OR_RETURN(bool tar, ParseBool(spec, "tar"));
  if (!tar) return Invalid(spec, "tar=false is not supported; expected a docker archive (tar)");
  KILN_ASSIGN_OR_RETURN(std::string dest, Dest(spec, "PATH"));
  KILN_ASSIGN_OR_RETURN(std::string name, SingleName(spec));
  if (name.empty()) {
    return Invalid(spec, "missing name=REF; expected type=docker,dest=PATH,name=REF");
  }
  KILN_ASSIGN_OR_RETURN(std::optional<OutputCompression> compression, ParseCompression(spec));
  return DockerArchiveOutput{std::move(dest), std::move(name), compression};
}

absl::StatusOr<Output> ParseLocal(const ExportSpec& spec) {
  KILN_RETURN_IF_ERROR(CheckKeys(spec, {"dest"}));
  KILN_ASSIGN_OR_RETURN(std::string dest, Dest(spec, "DIR"));
  return LocalOutput{std::move(dest)};
}

const char* CompressionName(OutputCompression c) {
  switch (c) {
    case OutputCompression::kGzip:
      return "gzip";
    case OutputCompression::kZstd:
      return "zstd";
    case OutputCompression::kUncompressed:
      return "uncompressed";
  }
  return "gzip";
}

void PutArchive(const std::string& dest, const std::string& name,
                std::optional<OutputCompression> compression, ExportSpec& spec) {
  spec.attrs["dest"] = dest;
  if (!name.empty()) spec.attrs["name"] = name;
  if (compression) spec.attrs["compression"] = CompressionName(*compression);
}

}  // namespace

absl::StatusOr<Output> ParseOutput(const ExportSpec& spec) {
  if (spec.type == "image" || spec.type == "registry") return ParseImage(spec);
  if (spec.type == "oci") return ParseOci(spec);
  if (spec.type == "docker") return ParseDocker(spec);
  if (spec.type == "local") return ParseLocal(spec);
  return Invalid(spec, "unknown type; expected image, registry, oci, docker or local");
}

ExportSpec ToExportSpec(const Output& output) {
  ExportSpec spec;
  spec.type = OutputType(output);
  std::visit(
      [&spec](const auto& o) {
        using T = std::decay_t<decltype(o)>;
        if constexpr (std::is_same_v<T, ImageOutput>) {
          spec.attrs["name"] = absl::StrJoin(o.names, ",");
          if (o.compression) spec.attrs["compression"] = CompressionName(*o.compression);
          if (o.push) spec.attrs["push"] = "true";
        } else if constexpr (std::is_same_v<T, OciLayoutOutput>) {
          PutArchive(o.dest, o.name, o.compression, spec);
          spec.attrs["tar"] = "false";
        } else if constexpr (std::is_same_v<T, LocalOutput>) {
          spec.attrs["dest"] = o.dest;
        } else {
          PutArchive(o.dest, o.name, o.compression, spec);
        }
      },
      output);
  return spec;
}

std::optional<OutputCompression> CompressionOf(const Output& output) {
  return std::visit(
      [](const auto& o) -> std::optional<OutputCompression> {
        if constexpr (std::is_same_v<std::decay_t<decltype(o)>, LocalOutput>) {
          return std::nullopt;
        } else {
          return o.compression;
        }
      },
      output);
}

std::string DestOf(const Output& output) {
  return std::visit(
      [](const auto& o) -> std::string {
        if constexpr (std::is_same_v<std::decay_t<decltype(o)>, ImageOutput>) {
          return "";
        } else {
          return o.dest;
        }
      },
      output);
}

const char* OutputType(const Output& output) {
  return std::visit(
      [](const auto& o) -> const char* {
        using T = std::decay_t<decltype(o)>;
        if constexpr (std::is_same_v<T, ImageOutput>) {
          return "image";
        } else if constexpr (std::is_same_v<T, OciArchiveOutput> ||
                             std::is_same_v<T, OciLayoutOutput>) {
          return "oci";
        } else if constexpr (std::is_same_v<T, DockerArchiveOutput>) {
          return "docker";
        } else if constexpr (std::is_same_v<T, LocalOutput>) {
          return "local";
        } else {
          static_assert(kAlwaysFalse<T>, "every Output names its type");
        }
      },
      output);
}

std::optional<OutputCompression> LayerCompressionFor(const std::vector<Output>& outputs) {
  for (const Output& o : outputs) {
    if (std::optional<OutputCompression> c = CompressionOf(o)) return c;
  }
  for (const Output& o : outputs) {
    const auto* image = std::get_if<ImageOutput>(&o);
    if ((image != nullptr && image->push) ||
        (image == nullptr && !std::holds_alternative<LocalOutput>(o))) {
      return OutputCompression::kGzip;
    }
  }
  return std::nullopt;
}

}  // namespace kiln::engine
