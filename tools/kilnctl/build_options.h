// buildctl-style build flags (and the docker-style short form) turned into a BuildRequest.
// Shared by `kilnctl build` and its tests; pure except for resolving relative paths against
// `cwd` and checking that -f / --local dirs exist.
#ifndef KILN_TOOLS_KILNCTL_BUILD_OPTIONS_H_
#define KILN_TOOLS_KILNCTL_BUILD_OPTIONS_H_

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/core/engine.h"

namespace kiln::tools {

using engine::BuildRequest;
using engine::Output;

struct BuildFlags {
  // buildctl form
  std::string frontend;              // "" or "dockerfile.v0"
  std::vector<std::string> locals;   // "context=DIR", "dockerfile=DIR"
  std::vector<std::string> opts;     // "filename=F", "target=T", "build-arg:K=V"
  std::vector<std::string> outputs;  // "type=oci,dest=out.tar", ...
  std::vector<std::string> secrets;  // "id=X,src=PATH" (buildctl's --secret)
  std::string network;               // --network=default|none|host (every RUN without its own)
  std::vector<std::string> allow;    // --allow network.host
  bool no_cache = false;
  std::vector<std::string> cache_exports;  // --export-cache / --cache-to
  std::vector<std::string> cache_imports;  // --import-cache / --cache-from
  // short form
  std::string file;                     // -f PATH (relative to cwd)
  std::vector<std::string> tags;        // -t NAME (each => type=image,name=NAME)
  std::string target;                   // --target
  std::vector<std::string> build_args;  // --build-arg K=V (or K: value from the environment)
  std::string context;                  // positional DIR
};

// Parses one --output value ("type=oci,dest=out.tar,tar=false") into its wire form: a relative
// dest is made absolute against `cwd`; a key given twice keeps the last value (as buildctl).
absl::StatusOr<engine::ExportSpec> SplitOutputFlag(std::string_view spec, const std::string& cwd);

// SplitOutputFlag, then engine::ParseOutput (the parser kilnd runs too), so a bad --output
// fails before anything is sent. InvalidArgument naming the flag and what was expected.
absl::StatusOr<Output> ParseOutputSpec(std::string_view spec, const std::string& cwd);

// Parses one --export-cache / --import-cache value ("type=local,dest=DIR,mode=max"; a bare
// "REF" is type=registry,ref=REF as buildx takes it); dest= and src= are made absolute against
// `cwd`. InvalidArgument naming the flag and what was expected.
absl::StatusOr<engine::remotecache::CacheExport> ParseCacheExportFlag(std::string_view spec,
                                                                      const std::string& cwd);
absl::StatusOr<engine::remotecache::CacheImport> ParseCacheImportFlag(std::string_view spec,
                                                                      const std::string& cwd);

// Parses one --secret value, buildctl's "id=ID,src=PATH" (also "source="; "type=file" is
// accepted; the id defaults to the file's name). Returns {id, absolute path}. InvalidArgument
// for anything else (e.g. env= secrets, which a daemon cannot read from the client).
absl::StatusOr<std::pair<std::string, std::string>> ParseSecretSpec(std::string_view spec,
                                                                    const std::string& cwd);

// `path` made absolute against `cwd`, lexically ("./" prefixes and trailing '/' dropped): the
// context directory kilnctl sends, whose identity is part of the build graph's digests.
std::string Absolute(const std::string& path, const std::string& cwd);

// Builds the request. InvalidArgument for malformed or conflicting flags ("--local context=DIR
// is required", "unknown --opt 'x'", ...), NotFound for a context/Dockerfile dir that is missing.
absl::StatusOr<BuildRequest> MakeBuildRequest(const BuildFlags& flags, const std::string& cwd);

}  // namespace kiln::tools

#endif  // KILN_TOOLS_KILNCTL_BUILD_OPTIONS_H_
