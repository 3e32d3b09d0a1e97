#include "tools/kilnctl/build_options.h"

#include <sys/stat.h>

#include <cstdlib>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "base/status.h"

namespace kiln::tools {

std::string Absolute(const std::string& path, const std::string& cwd) {
  if (path.empty() || path[0] == '/') return path;
  std::string base = cwd;
  std::string rest = path;
  while (absl::StartsWith(rest, "./")) rest = rest.substr(2);
  if (rest == ".") return base;
  if (!base.empty() && base.back() == '/') base.pop_back();
  std::string joined = base + "/" + rest;
  while (joined.size() > 1 && joined.back() == '/') joined.pop_back();
  return joined;
}

namespace {

// Splits "k=v" at the first '='. InvalidArgument naming `flag` otherwise.
absl::StatusOr<std::pair<std::string, std::string>> KeyValue(std::string_view text,
                                                             std::string_view flag) {
  size_t eq = text.find('=');
  if (eq == std::string_view::npos || eq == 0) {
    return absl::InvalidArgumentError(absl::StrCat("bad ", base::AsAbsl(flag), " '",
                                                   base::AsAbsl(text), "', expected KEY=VALUE"));
  }
  return std::make_pair(std::string(text.substr(0, eq)), std::string(text.substr(eq + 1)));
}

absl::Status CheckDir(const std::string& path, std::string_view what) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) {
    return base::ErrnoError(absl::StrCat("open ", base::AsAbsl(what), " '", path, "'"));
  }
  if (!S_ISDIR(st.st_mode)) {
    return absl::InvalidArgumentError(
        absl::StrCat(base::AsAbsl(what), " '", path, "' is not a directory"));
  }
  return absl::OkStatus();
}

absl::Status ApplyOpt(const std::string& key, const std::string& value, BuildRequest& request) {
  if (key == "filename") {
    request.dockerfile_name = value;
  } else if (key == "target") {
    request.target = value;
  } else if (absl::StartsWith(key, "build-arg:")) {
    request.build_args[key.substr(10)] = value;
  } else if (key == "platform") {
    request.platform = value;
  } else if (key == "force-network-mode") {
    request.network = value;
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        "unknown --opt '", key, "', expected filename=F, target=T, build-arg:K=V or platform=P"));
  }
  return absl::OkStatus();
}

absl::Status ApplyBuildArg(const std::string& arg, BuildRequest& request) {
  size_t eq = arg.find('=');
  if (eq == 0 || arg.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad --build-arg '", arg, "', expected KEY=VALUE or KEY"));
  }
  if (eq == std::string::npos) {  // docker: take the value from the environment if set
    const char* env = std::getenv(arg.c_str());
    if (env != nullptr) request.build_args[arg] = env;
    return absl::OkStatus();
  }
  request.build_args[arg.substr(0, eq)] = arg.substr(eq + 1);
  return absl::OkStatus();
}

absl::Status ApplyShortForm(const BuildFlags& flags, const std::string& cwd,
                            BuildRequest& request) {
  if (!flags.context.empty()) request.context_dir = Absolute(flags.context, cwd);
  if (!flags.file.empty()) {
    if (flags.file == "-") {
      return absl::InvalidArgumentError("-f -: reading the Dockerfile from stdin is not supported");
    }
    std::string file = Absolute(flags.file, cwd);
    size_t slash = file.find_last_of('/');
    request.dockerfile_dir = slash == 0 ? "/" : file.substr(0, slash);
    request.dockerfile_name = file.substr(slash + 1);
  }
  if (!flags.target.empty()) request.target = flags.target;
  for (const std::string& arg : flags.build_args) KILN_RETURN_IF_ERROR(ApplyBuildArg(arg, request));
  for (const std::string& tag : flags.tags) {
    request.exports.push_back(engine::ImageOutput{{tag}, std::nullopt});
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<engine::ExportSpec> SplitOutputFlag(std::string_view spec, const std::string& cwd) {
  engine::ExportSpec out;
  for (absl::string_view field : absl::StrSplit(base::AsAbsl(spec), ',', absl::SkipEmpty())) {
    KILN_ASSIGN_OR_RETURN(auto kv,
                          KeyValue(std::string_view(field.data(), field.size()), "--output field"));
    if (kv.first == "type") {
      out.type = kv.second;
    } else {
      out.attrs[kv.first] = kv.first == "dest" ? Absolute(kv.second, cwd) : kv.second;
    }
  }
  if (out.type.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "bad --output '", base::AsAbsl(spec),
        "': no type=; expected type=image|oci|docker|local, e.g. type=oci,dest=out.tar"));
  }
  return out;
}

absl::StatusOr<Output> ParseOutputSpec(std::string_view spec, const std::string& cwd) {
  KILN_ASSIGN_OR_RETURN(engine::ExportSpec split, SplitOutputFlag(spec, cwd));
  return engine::ParseOutput(split);
}

namespace {

absl::StatusOr<engine::remotecache::CacheSpecText> SplitCacheFlag(std::string_view spec,
                                                                  std::string_view flag,
                                                                  const std::string& cwd) {
  engine::remotecache::CacheSpecText out;
  if (spec.find('=') == std::string_view::npos && !spec.empty()) {
    out.type = "registry";
    out.attrs["ref"] = std::string(spec);
    return out;
  }
  for (absl::string_view field : absl::StrSplit(base::AsAbsl(spec), ',', absl::SkipEmpty())) {
    KILN_ASSIGN_OR_RETURN(auto kv, KeyValue(std::string_view(field.data(), field.size()),
                                            absl::StrCat(base::AsAbsl(flag), " field")));
    if (kv.first == "type") {
      out.type = kv.second;
    } else {
      bool path = kv.first == "dest" || kv.first == "src";
      out.attrs[kv.first] = path ? Absolute(kv.second, cwd) : kv.second;
    }
  }
  if (out.type.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad ", base::AsAbsl(flag), " '", base::AsAbsl(spec),
                     "': no type=; expected type=local or type=registry, e.g. type=local,",
                     flag == "--export-cache" ? "dest=DIR" : "src=DIR"));
  }
  return out;
}

}  // namespace

absl::StatusOr<engine::remotecache::CacheExport> ParseCacheExportFlag(std::string_view spec,
                                                                      const std::string& cwd) {
  KILN_ASSIGN_OR_RETURN(auto text, SplitCacheFlag(spec, "--export-cache", cwd));
  return engine::remotecache::ParseCacheExport(text);
}

absl::StatusOr<engine::remotecache::CacheImport> ParseCacheImportFlag(std::string_view spec,
                                                                      const std::string& cwd) {
  KILN_ASSIGN_OR_RETURN(auto text, SplitCacheFlag(spec, "--import-cache", cwd));
  return engine::remotecache::ParseCacheImport(text);
}

absl::StatusOr<std::pair<std::string, std::string>> ParseSecretSpec(std::string_view spec,
                                                                    const std::string& cwd) {
  std::string id, src;
  for (absl::string_view field : absl::StrSplit(base::AsAbsl(spec), ',', absl::SkipEmpty())) {
    KILN_ASSIGN_OR_RETURN(auto kv,
                          KeyValue(std::string_view(field.data(), field.size()), "--secret field"));
    if (kv.first == "id") {
      id = kv.second;
    } else if (kv.first == "src" || kv.first == "source") {
      src = Absolute(kv.second, cwd);
    } else if (kv.first == "type" && kv.second == "file") {
      continue;
    } else {
      return absl::InvalidArgumentError(absl::StrCat("bad --secret '", base::AsAbsl(spec),
                                                     "': unsupported field '", kv.first,
                                                     "', expected id=ID,src=PATH"));
    }
  }
  if (src.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("bad --secret '", base::AsAbsl(spec),
                                                   "': no src=PATH, expected id=ID,src=PATH"));
  }
  if (id.empty()) id = src.substr(src.find_last_of('/') + 1);
  return std::make_pair(id, src);
}

absl::StatusOr<BuildRequest> MakeBuildRequest(const BuildFlags& flags, const std::string& cwd) {
  if (!flags.frontend.empty() && flags.frontend != "dockerfile.v0") {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown --frontend '", flags.frontend, "', expected dockerfile.v0"));
  }
  BuildRequest request;
  for (const std::string& local : flags.locals) {
    KILN_ASSIGN_OR_RETURN(auto kv, KeyValue(local, "--local"));
    if (kv.first == "context") {
      request.context_dir = Absolute(kv.second, cwd);
    } else if (kv.first == "dockerfile") {
      request.dockerfile_dir = Absolute(kv.second, cwd);
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown --local '", kv.first, "', expected context=DIR or dockerfile=DIR"));
    }
  }
  for (const std::string& opt : flags.opts) {
    KILN_ASSIGN_OR_RETURN(auto kv, KeyValue(opt, "--opt"));
    KILN_RETURN_IF_ERROR(ApplyOpt(kv.first, kv.second, request));
  }
  KILN_RETURN_IF_ERROR(ApplyShortForm(flags, cwd, request));
  // buildx: SOURCE_DATE_EPOCH from the client's environment is the build arg of that name
  // unless the build sets one itself (--build-arg or --opt build-arg:).
  if (const char* epoch = std::getenv("SOURCE_DATE_EPOCH");
      epoch != nullptr && *epoch != '\0' && !request.build_args.contains("SOURCE_DATE_EPOCH")) {
    request.build_args["SOURCE_DATE_EPOCH"] = epoch;
  }
  for (const std::string& output : flags.outputs) {
    KILN_ASSIGN_OR_RETURN(Output parsed, ParseOutputSpec(output, cwd));
    request.exports.push_back(std::move(parsed));
  }
  for (const std::string& spec : flags.cache_exports) {
    KILN_ASSIGN_OR_RETURN(auto parsed, ParseCacheExportFlag(spec, cwd));
    request.cache_exports.push_back(std::move(parsed));
  }
  for (const std::string& spec : flags.cache_imports) {
    KILN_ASSIGN_OR_RETURN(auto parsed, ParseCacheImportFlag(spec, cwd));
    request.cache_imports.push_back(std::move(parsed));
  }
  for (const std::string& secret : flags.secrets) {
    KILN_ASSIGN_OR_RETURN(auto id_path, ParseSecretSpec(secret, cwd));
    if (!request.secrets.emplace(id_path.first, id_path.second).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("--secret id '", id_path.first, "' is given twice"));
    }
  }
  request.no_cache = flags.no_cache;
  if (!flags.network.empty()) {
    if (flags.network != "default" && flags.network != "none" && flags.network != "host") {
      return absl::InvalidArgumentError(
          absl::StrCat("--network=", flags.network, ": expected default, none or host"));
    }
    request.network = flags.network;
  }
  for (const std::string& e : flags.allow) {
    if (e != "network.host") {
      return absl::InvalidArgumentError(
          absl::StrCat("--allow ", e, ": unknown entitlement, expected network.host"));
    }
    request.entitlements.push_back(e);
  }
  if (request.context_dir.empty()) {
    return absl::InvalidArgumentError(
        "no build context: pass --local context=DIR (buildctl form) or a DIR argument");
  }
  KILN_RETURN_IF_ERROR(CheckDir(request.context_dir, "build context"));
  if (!request.dockerfile_dir.empty()) {
    KILN_RETURN_IF_ERROR(CheckDir(request.dockerfile_dir, "Dockerfile dir"));
  }
  return request;
}

}  // namespace kiln::tools
